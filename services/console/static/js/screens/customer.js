// The 360° traveller page: every panel asks its own service and shows its own error.
// Changes go through the services' own APIs, which check the role; the page offers each role only what it
// may do, and explains a refusal that comes all the same.

import { request } from "../api.js";
import { codesLoaded, loadCodes } from "../codes.js";
import { Panel, badge, control, empty, facts, runAction, select, table, time } from "../components.js";
import { announce, h } from "../dom.js";
import * as format from "../format.js";
import * as session from "../session.js";
import { commentReading, renderCases } from "./customer-cases.js";
import { renderConsents, renderDeliveries } from "./customer-messages.js";
import { renderPreferences } from "./customer-preferences.js";
import { history, mergeForm, source, sourceRecords } from "./customer-records.js";
import { renderNextActions } from "./next-actions.js";
import { renderTrips } from "./trips.js";

/** The form under the golden record: an agent's correction of one field (profile `PATCH .../fields`). */
function correctionForm(ctx, fields) {
  const fieldSelect = select("field", format.FIELD_ORDER.map((n) => [n, format.fieldLabel(n)]), "email");
  const value = h("input", { name: "value", type: "text", autocomplete: "off", spellcheck: "false" });
  const save = h("button", { type: "submit", class: "button button-primary", text: "Save correction" });
  const feedback = h("div", { class: "form-feedback" });
  const form = h("form", { class: "edit-form", novalidate: true, "aria-labelledby": "correct-title" },
    h("h3", { id: "correct-title", text: "Correct a field" }),
    h("div", { class: "form-row" },
      control({ id: "correct-field", label: "Field", input: fieldSelect }),
      control({
        id: "correct-value", label: "Correct value", input: value, className: "field field-grow",
        hint: "The correction wins until a verified source sends newer data. Leave empty to clear the field.",
      }),
    ),
    feedback,
    h("div", { class: "actions" }, save),
  );
  const fill = (name) => {
    fieldSelect.value = name;
    const current = fields[name]?.value;
    value.value = current === null || current === undefined ? "" : String(current);
  };
  fieldSelect.addEventListener("change", () => fill(fieldSelect.value));
  fill("email");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const field = fieldSelect.value;
    runAction({
      root: form, buttons: [save], feedback, notice: ctx.golden.status,
      fields: { value, field: fieldSelect },
      action: "correct this traveller's data",
      run: () => request("profile", `/v1/customers/${ctx.id}/fields`, {
        method: "PATCH",
        body: { field, value: value.value.trim() === "" ? null : value.value.trim() },
      }),
      success: `${format.fieldLabel(field)} corrected.`,
      done: () => ctx.refresh("golden", "history"),
    });
  });
  return { form, edit: (name) => { fill(name); value.focus(); value.select(); } };
}

/** Withdraw an agent's correction (profile `DELETE .../fields/{field}`): the sources decide the field again. */
function withdrawButton(ctx, name) {
  const label = format.fieldLabel(name);
  const button = h("button", {
    type: "button", class: "button button-quiet", text: "Withdraw correction",
    "aria-label": `Withdraw the correction of ${label}`,
  });
  button.addEventListener("click", () => runAction({
    root: ctx.golden.element, buttons: [button], feedback: ctx.golden.status, notice: ctx.golden.status,
    action: "withdraw this correction",
    run: () => request("profile", `/v1/customers/${ctx.id}/fields/${encodeURIComponent(name)}`, { method: "DELETE" }),
    success: `Correction of ${label} withdrawn; the sources decide it again.`,
    done: () => ctx.refresh("golden", "history"),
  }));
  return button;
}

/** One golden value: an address as a block of lines, identity numbers only as "on file", others as text. */
function goldenValue(name, value) {
  if (format.ADDRESS_FIELDS.includes(name)) {
    return h("address", { class: "value postal-address" }, format.addressLines(value).map((line) => h("span", { class: "address-line", text: line })));
  }
  if (name === "identity_numbers_on_file") return h("span", { class: "value", text: format.onFile(value) });
  return h("span", { class: "value", text: format.value(value) });
}

function goldenRecord(ctx, view) {
  const customer = view.customer;
  const fields = customer.fields ?? {};
  const name = fields.display_name?.value ?? customer.customer_id;
  ctx.heading.textContent = name;
  document.title = `${name} · Itinera console`;
  if (!ctx.announced) announce(`Traveller ${name} loaded.`); // once: later reloads follow a change, announced by it
  ctx.announced = true;
  ctx.subtitle.replaceChildren(
    h("code", { text: customer.customer_id }),
    " ",
    badge(customer.status, customer.status === "active" ? "ok" : "warn"),
    customer.company_name ? h("span", { class: "subtitle-company", text: customer.company_name }) : null,
  );
  const names = [...format.FIELD_ORDER.filter((n) => n in fields), ...Object.keys(fields).filter((n) => !format.FIELD_ORDER.includes(n)).sort()];
  const quality = customer.quality ?? {};
  const correction = correctionForm(ctx, fields);
  return [
    customer.requested_id && customer.requested_id !== customer.customer_id
      ? h("p", { class: "notice", text: `${customer.requested_id} was merged into this traveller.` })
      : null,
    names.length
      ? table({
        caption: "Golden record",
        columns: [{ label: "Field" }, { label: "Value" }, { label: "Source" }, { label: "Last seen" }, { label: "Action" }],
        rowHeaders: true,
        className: "golden",
        rows: names.map((n) => {
          const f = fields[n];
          return [
            format.fieldLabel(n),
            goldenValue(n, f.value),
            source(f),
            time(f.last_seen),
            format.FIELD_ORDER.includes(n)
              ? h("span", { class: "actions-inline" },
                h("button", {
                  type: "button", class: "button button-quiet", text: "Correct",
                  "aria-label": `Correct ${format.fieldLabel(n)}`, on: { click: () => correction.edit(n) },
                }),
                f.rule === "agent-correction" ? withdrawButton(ctx, n) : null,
              )
              : "",
          ];
        }),
      })
      : empty("No fields known."),
    facts([
      ["Source records", String(customer.source_record_count ?? "—")],
      ["Data quality", format.percent(quality.score)],
      quality.conflicts && Object.keys(quality.conflicts).length ? ["Conflicts", Object.keys(quality.conflicts).map(format.fieldLabel).join(", ")] : null,
      quality.email_deliverable === false ? ["Email", badge("undeliverable", "bad")] : null,
      (quality.stale ?? []).length ? ["Stale", quality.stale.map(format.fieldLabel).join(", ")] : null,
      ["Updated", time(customer.updated_at, { withTime: true })],
    ]),
    correction.form,
  ];
}

function bookings(view) {
  const items = view.bookings ?? [];
  if (!items.length) return empty("No bookings yet.");
  return h("ul", { class: "items" }, items.map((b) => {
    const summary = b.summary ?? {};
    const total = format.money(summary.total_price, summary.currency);
    return h("li", { class: "item" },
      h("div", { class: "item-head" },
        h("strong", { class: "booking-id", text: b.booking_id }),
        badge(String(b.status).replaceAll("_", " "), b.status === "cancelled" ? "warn" : "ok"),
        h("span", { class: "muted", text: b.source_system }),
      ),
      (summary.segments ?? []).length
        ? h("ul", { class: "segments" }, summary.segments.map((s) => h("li", { text: format.segment(s) })))
        : null,
      h("p", { class: "muted" }, total ? `${total} · ` : "", "updated ", time(b.updated_at, { withTime: true })),
    );
  }));
}

function surveys(page) {
  const items = page.items ?? [];
  if (!items.length) return empty("No surveys.");
  return table({
    caption: "Surveys",
    columns: [{ label: "Booking" }, { label: "State" }, { label: "CSAT" }, { label: "NPS" }, { label: "Comment" }, { label: "Comment reads" }, { label: "Sent" }],
    rowHeaders: true,
    rows: items.map((s) => [
      s.booking_id,
      badge(s.state, s.state === "answered" ? "ok" : s.state === "expired" ? "warn" : "neutral"),
      s.csat === null || s.csat === undefined ? "—" : `${s.csat} / 5`,
      s.nps === null || s.nps === undefined ? "—" : `${s.nps} / 10`,
      s.comment || "—",
      s.reading ? commentReading(s.reading) : "—",
      time(s.created_at),
    ]),
  });
}

export function renderCustomer(root, { match, signal }) {
  const customerId = decodeURIComponent(match[1]);
  const heading = h("h1", { text: "Traveller" });
  const subtitle = h("p", { class: "subtitle" }, h("code", { text: customerId }));
  document.title = "Traveller · Itinera console";

  const panels = {
    actions: new Panel({ id: "next-actions", title: "Next best actions", wide: true, note: "Suggested from each service's data, with the reason." }),
    golden: new Panel({ id: "golden", title: "Golden record", wide: true, note: "Each field's value with the source system it came from. Agents correct fields here." }),
    bookings: new Panel({ id: "bookings", title: "Recent bookings" }),
    trips: new Panel({ id: "trips", title: "Trips", note: "Bookings of one journey together; each trip's timeline on its page." }),
    consents: new Panel({ id: "consents", title: "Consents and quiet hours", note: "What the traveller agreed to receive, and when messages must wait." }),
    preferences: new Panel({ id: "preferences", title: "Preferences", wide: true, note: "Effective: the traveller's own, resolved against company policy." }),
    cases: new Panel({
      id: "cases", title: "Cases", wide: true,
      note: session.may("close-case") ? "Complaints and requests with their deadlines." : "Complaints and requests with their deadlines. A supervisor closes them.",
    }),
    surveys: new Panel({ id: "surveys", title: "Surveys", wide: true }),
    messages: new Panel({ id: "deliveries", title: "Messages", wide: true }),
    sources: new Panel({
      id: "source-records", title: "Source records", wide: true,
      note: session.may("split")
        ? "The records the sources sent for this traveller. Split a wrongly linked one off into a traveller of its own."
        : "The records the sources sent for this traveller. A supervisor can split a wrongly linked one off.",
    }),
    history: new Panel({ id: "history", title: "History", wide: true, note: "Every change to this traveller, newest first." }),
    merge: session.may("merge")
      ? new Panel({ id: "merge", title: "Merge a duplicate", wide: true, note: "Two records of the same person become one traveller." })
      : new Panel({ id: "merge", title: "Compare with a suspected duplicate", wide: true, note: "See how another traveller compares with this one." }),
  };

  const id = encodeURIComponent(customerId);
  const ctx = {
    customerId, id, heading, subtitle, signal, ...panels,
    /** Load the named panels again (after a change). */
    refresh: (...names) => Promise.all(names.map((n) => (n === "bookings" || n === "golden" ? loadView() : panels[n].refresh()))),
  };

  root.replaceChildren(
    h("div", { class: "screen" },
      h("p", { class: "breadcrumb" }, h("a", { href: "#/search", text: "← Search travellers" })),
      heading,
      subtitle,
      h("div", { class: "panels" }, Object.values(panels).map((p) => p.element)),
    ),
  );

  // Golden record and bookings come from one call; reloading one reloads both.
  let viewing = null;
  let lastView = null;
  function loadView() {
    viewing ??= (async () => {
      const view = request("profile", `/v1/customers/${id}/view`, { signal });
      lastView = view;
      try {
        await Promise.all([
          panels.golden.load(() => view, (v) => goldenRecord(ctx, v)),
          panels.bookings.load(() => view, bookings),
        ]);
      } finally {
        viewing = null;
      }
    })();
    return viewing;
  }
  loadView();
  // Codes in bookings (airline, meal, hotel chain, car vendor) get their names from the preferences
  // service: the bookings are shown at once, and shown again from the same answer once the names are
  // here (a bookings render that starts later has them already).
  if (!codesLoaded()) {
    loadCodes().then((named) => {
      if (named && !signal.aborted && !viewing && lastView) panels.bookings.load(() => lastView, bookings);
    });
  }
  panels.sources.show(() => request("profile", `/v1/customers/${id}/source-records`, { params: { limit: 50 }, signal }), (page) => sourceRecords(ctx, page));
  panels.history.show(() => request("profile", `/v1/customers/${id}/history`, { params: { limit: 50 }, signal }), (page) => history(ctx, page));
  panels.merge.show(async () => null, () => mergeForm(ctx));
  renderPreferences(ctx, panels.preferences);
  renderCases(ctx, panels.cases);
  renderTrips(ctx, panels.trips);
  panels.surveys.show(
    () => request("feedback", `/v1/customers/${id}/surveys`, { params: { limit: 20 }, signal }).catch((error) => {
      if (error?.notFound) return { items: [] };
      throw error;
    }),
    surveys,
  );
  renderConsents(ctx, panels.consents);
  renderDeliveries(ctx, panels.messages);
  renderNextActions(panels.actions, { subject: "customer", id: customerId, services: ["feedback", "profile", "preferences", "value"], signal });
}
