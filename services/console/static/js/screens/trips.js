// Trips: the traveller's trips on the 360° page, and one trip's page with its bookings, timeline
// (bookings, changes, cancellations, messages, survey, cases) and the journeys run for it.

import { request } from "../api.js";
import { Panel, badge, empty, facts, table, time } from "../components.js";
import { h, routeHref } from "../dom.js";
import * as format from "../format.js";

const TONE = { planned: "neutral", in_progress: "warn", completed: "ok", cancelled: "bad", merged: "neutral" };

/** The traveller's trips, newest first, each a link to its page. */
export function renderTrips(ctx, panel) {
  panel.show(
    () => request("trips", `/v1/customers/${ctx.id}/trips`, { signal: ctx.signal }),
    (page) => {
      const items = page.items ?? [];
      if (!items.length) return empty("No trips yet.");
      return table({
        caption: "Trips",
        columns: [{ label: "Trip" }, { label: "Status" }, { label: "From" }, { label: "To" }, { label: "Reference" }],
        rowHeaders: true,
        rows: items.map((t) => [
          h("a", { href: routeHref("trips", t.trip_id), text: t.trip_id }),
          badge(format.humanize(t.status), TONE[t.status] ?? "neutral"),
          t.starts_at ? time(t.starts_at, { withTime: true }) : "—",
          t.ends_at ? time(t.ends_at, { withTime: true }) : "—",
          t.trip_reference || "—",
        ]),
      });
    },
  );
}

function timeline(entries) {
  if (!entries.length) return empty("Nothing happened yet.");
  return h("ol", { class: "timeline" }, entries.map((e) => h("li", { "data-kind": e.kind },
    time(e.at, { withTime: true }), " ", badge(e.kind, e.kind.includes("failed") ? "bad" : "neutral"), " ",
    h("span", { text: e.summary }),
  )));
}

/** One trip's page (`#/trips/<id>`). */
export function renderTrip(root, { match, signal }) {
  const tripId = decodeURIComponent(match[1]);
  document.title = "Trip · Itinera console";
  const summary = new Panel({ id: "trip", title: "Trip", wide: true });
  const events = new Panel({ id: "trip-timeline", title: "Timeline", wide: true, note: "Bookings, changes, messages, survey and cases, in order." });
  const journeys = new Panel({ id: "trip-journeys", title: "Journeys", wide: true, note: "Declared journeys run for this trip, with the version each used." });
  const back = h("p", { class: "breadcrumb" }, h("a", { href: "#/search", text: "← Search travellers" }));
  root.replaceChildren(h("div", { class: "screen" }, back, h("h1", { text: "Trip" }),
    h("p", { class: "subtitle" }, h("code", { text: tripId })),
    h("div", { class: "panels" }, summary.element, events.element, journeys.element)));
  const trip = request("trips", `/v1/trips/${encodeURIComponent(tripId)}`, { signal });
  trip.then((t) => back.replaceChildren(h("a", { href: routeHref("customers", t.customer_id), text: "← The traveller" })), () => {});
  summary.show(() => trip, (t) => [
    facts([
      ["Status", badge(format.humanize(t.status), TONE[t.status] ?? "neutral")],
      ["From", t.starts_at ? time(t.starts_at, { withTime: true }) : "—"],
      ["To", t.ends_at ? time(t.ends_at, { withTime: true }) : "—"],
      ["Reference", t.trip_reference || "—"],
    ]),
    table({
      caption: "Bookings",
      columns: [{ label: "Booking" }, { label: "What" }, { label: "Status" }, { label: "From" }],
      rowHeaders: true,
      rows: t.bookings.map((b) => [`${b.source_system}:${b.booking_id}`, b.kinds.join(", "), format.humanize(b.status),
        b.starts_at ? time(b.starts_at, { withTime: true }) : "—"]),
    }),
  ]);
  events.show(() => trip, (t) => timeline(t.timeline));
  journeys.show(() => trip, (t) => (t.journeys.length ? table({
    caption: "Journeys",
    columns: [{ label: "Journey" }, { label: "Version" }, { label: "Status" }, { label: "Next step at" }, { label: "Note" }],
    rowHeaders: true,
    rows: t.journeys.map((j) => [j.journey, `v${j.journey_version}`, format.humanize(j.status),
      j.due_at ? time(j.due_at, { withTime: true }) : "—", j.note || "—"]),
  }) : empty("No journey ran for this trip.")));
}
