// The 360° traveller page: every panel asks its own service and shows its own error.

import { request } from "../api.js";
import { Panel, badge, empty, facts, table, time } from "../components.js";
import { announce, h } from "../dom.js";
import * as format from "../format.js";

const OPEN_CASE = new Set(["open", "in_progress", "waiting_customer"]);
let catalogue = null;

/** Preference descriptions from the preferences catalogue (fetched once; keys are shown if it fails). */
function preferenceLabels(signal) {
  catalogue ??= request("preferences", "/v1/preferences/catalogue", { signal })
    .then((specs) => Object.fromEntries((specs ?? []).map((s) => [s.key, s.description])))
    .catch(() => { catalogue = null; return {}; });
  return catalogue;
}

function source(field) {
  return h("span", { class: "source" },
    h("span", { class: "source-system", text: field.source_system }),
    field.source_id ? h("span", { class: "source-id", text: field.source_id }) : null,
    field.rule ? h("span", { class: "rule", text: `chosen by ${field.rule}` }) : null,
  );
}

function goldenRecord(view, heading, subtitle) {
  const customer = view.customer;
  const fields = customer.fields ?? {};
  const name = fields.display_name?.value ?? customer.customer_id;
  heading.textContent = name;
  document.title = `${name} · Itinera console`;
  announce(`Traveller ${name} loaded.`);
  subtitle.replaceChildren(
    h("code", { text: customer.customer_id }),
    " ",
    badge(customer.status, customer.status === "active" ? "ok" : "warn"),
    customer.company_name ? h("span", { class: "subtitle-company", text: customer.company_name }) : null,
  );
  const names = [...format.FIELD_ORDER.filter((n) => n in fields), ...Object.keys(fields).filter((n) => !format.FIELD_ORDER.includes(n)).sort()];
  const quality = customer.quality ?? {};
  return [
    customer.requested_id && customer.requested_id !== customer.customer_id
      ? h("p", { class: "notice", text: `${customer.requested_id} was merged into this traveller.` })
      : null,
    names.length
      ? table({
        caption: "Golden record",
        columns: [{ label: "Field" }, { label: "Value" }, { label: "Source" }, { label: "Last seen" }],
        rowHeaders: true,
        className: "golden",
        rows: names.map((n) => {
          const f = fields[n];
          return [
            format.fieldLabel(n),
            h("span", { class: "value", text: format.value(f.value) }),
            source(f),
            time(f.last_seen),
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

function sourceRecords(page) {
  const items = page.items ?? [];
  if (!items.length) return empty("No source records.");
  return table({
    caption: "Source records",
    columns: [{ label: "Source" }, { label: "Received" }, { label: "Match" }, { label: "Seen" }],
    rowHeaders: true,
    rows: items.map((r) => {
      const received = r.received ?? {};
      const traveller = received.traveller ?? received;
      const problems = Object.entries(r.problems ?? {});
      return [
        source(r),
        h("div", {},
          h("span", { text: format.value(Object.fromEntries(Object.entries(traveller).filter(([, v]) => typeof v !== "object" || v === null))) }),
          problems.length ? h("p", { class: "warn-text", text: `Problems: ${problems.map(([k, v]) => `${format.fieldLabel(k)}: ${v}`).join("; ")}` }) : null,
        ),
        h("span", {}, r.match_rule, r.match_score !== null && r.match_score !== undefined ? ` · ${Number(r.match_score).toFixed(1)}` : ""),
        h("span", {}, time(r.first_seen), " – ", time(r.last_seen)),
      ];
    }),
  });
}

function preferences(effective, labels) {
  const items = effective.preferences ?? [];
  const conflicts = effective.conflicts ?? [];
  const redacted = effective.redacted_keys ?? [];
  return [
    items.length
      ? table({
        caption: "Effective preferences",
        columns: [{ label: "Preference" }, { label: "Value" }, { label: "Source" }, { label: "Confidence" }],
        rowHeaders: true,
        rows: items.map((p) => [
          h("span", {}, h("span", { text: labels[p.key] ?? format.humanize(p.key) }), h("code", { class: "key", text: p.key })),
          format.value(p.value),
          badge(p.source, p.source === "inferred" ? "info" : p.source === "policy" ? "warn" : "ok"),
          h("span", {}, format.percent(p.confidence), h("span", { class: "muted", text: ` · ${format.count(p.evidence_count ?? 0, "observation")}` })),
        ]),
      })
      : empty("No preferences known yet."),
    conflicts.length
      ? h("div", { class: "conflicts" },
        h("h3", { text: "Travel policy conflicts" }),
        h("ul", {}, conflicts.map((c) => h("li", {},
          h("strong", { text: labels[c.key] ?? format.humanize(c.key) }), ": ", c.message,
          h("span", { class: "muted", text: ` (prefers ${format.value(c.preferred)}; policy allows ${format.value(c.allowed)})` }),
        ))),
      )
      : h("p", { class: "muted", text: effective.policy_version ? "No conflicts with the company's travel policy." : "No company travel policy applies." }),
    redacted.length
      ? h("p", { class: "muted", text: `${format.count(redacted.length, "sensitive preference")} hidden (dietary, accessibility, meals: supervisors only).` })
      : null,
  ];
}

function surveys(page) {
  const items = page.items ?? [];
  if (!items.length) return empty("No surveys.");
  return table({
    caption: "Surveys",
    columns: [{ label: "Booking" }, { label: "State" }, { label: "CSAT" }, { label: "NPS" }, { label: "Comment" }, { label: "Sent" }],
    rowHeaders: true,
    rows: items.map((s) => [
      s.booking_id,
      badge(s.state, s.state === "answered" ? "ok" : s.state === "expired" ? "warn" : "neutral"),
      s.csat === null || s.csat === undefined ? "—" : `${s.csat} / 5`,
      s.nps === null || s.nps === undefined ? "—" : `${s.nps} / 10`,
      s.comment || "—",
      time(s.created_at),
    ]),
  });
}

function cases(page) {
  const all = page.items ?? [];
  const open = all.filter((c) => OPEN_CASE.has(c.status));
  const closed = all.length - open.length;
  return [
    open.length
      ? h("ul", { class: "items" }, open.map((c) => h("li", { class: "item" },
        h("div", { class: "item-head" },
          h("strong", { text: c.subject }),
          badge(c.status.replaceAll("_", " "), "info"),
          badge(c.priority, c.priority === "urgent" || c.priority === "high" ? "warn" : "neutral"),
          c.escalated ? badge("escalated", "bad") : null,
        ),
        h("p", { class: "muted" },
          `${c.kind} · opened `, time(c.opened_at, { withTime: true }),
          c.assignee ? ` · assigned to ${c.assignee}` : " · unassigned",
          c.resolution_due ? [" · resolve by ", time(c.resolution_due, { withTime: true })] : null,
        ),
        (c.breaches ?? []).length ? h("p", { class: "warn-text", text: `SLA missed: ${c.breaches.join(", ")}` }) : null,
      )))
      : empty("No open cases."),
    closed ? h("p", { class: "muted", text: `${format.count(closed, "resolved or closed case")} not shown.` }) : null,
  ];
}

function deliveries(page) {
  const items = page.items ?? [];
  if (!items.length) return empty("No messages.");
  return table({
    caption: "Message deliveries",
    columns: [{ label: "Message" }, { label: "Channel" }, { label: "Status" }, { label: "Recipient" }, { label: "When" }],
    rowHeaders: true,
    rows: items.map((d) => [
      h("span", {}, h("span", { text: d.subject || format.humanize(d.template) }), h("span", { class: "muted", text: ` · ${d.purpose}` })),
      d.channel,
      h("span", {},
        badge(d.status, d.status === "sent" ? "ok" : d.status === "failed" ? "bad" : "neutral"),
        d.hold_reason ? h("span", { class: "muted", text: ` ${d.hold_reason.replaceAll("_", " ")}` }) : null,
        d.last_error ? h("span", { class: "warn-text", text: ` ${d.last_error}` }) : null,
      ),
      d.recipient ?? "—",
      time(d.sent_at ?? d.failed_at ?? d.created_at, { withTime: true }),
    ]),
  });
}

export function renderCustomer(root, { match, signal }) {
  const customerId = decodeURIComponent(match[1]);
  const heading = h("h1", { text: "Traveller" });
  const subtitle = h("p", { class: "subtitle" }, h("code", { text: customerId }));
  document.title = "Traveller · Itinera console";

  const golden = new Panel({ id: "golden", title: "Golden record", wide: true, note: "Each field's value with the source system it came from." });
  const booked = new Panel({ id: "bookings", title: "Recent bookings" });
  const prefs = new Panel({ id: "preferences", title: "Preferences", note: "Effective: the traveller's own, resolved against company policy." });
  const cased = new Panel({ id: "cases", title: "Open cases" });
  const surveyed = new Panel({ id: "surveys", title: "Surveys" });
  const messages = new Panel({ id: "deliveries", title: "Messages", wide: true });
  const sources = new Panel({ id: "source-records", title: "Source records", wide: true });

  root.replaceChildren(
    h("div", { class: "screen" },
      h("p", { class: "breadcrumb" }, h("a", { href: "#/search", text: "← Search travellers" })),
      heading,
      subtitle,
      h("div", { class: "panels" },
        golden.element, booked.element, prefs.element, cased.element, surveyed.element, messages.element, sources.element,
      ),
    ),
  );

  const id = encodeURIComponent(customerId);
  const view = request("profile", `/v1/customers/${id}/view`, { signal });
  golden.load(() => view, (v) => goldenRecord(v, heading, subtitle));
  booked.load(() => view, bookings);
  sources.load(() => request("profile", `/v1/customers/${id}/source-records`, { params: { limit: 50 }, signal }), sourceRecords);
  prefs.load(
    async () => {
      const labels = await preferenceLabels(signal);
      try {
        return [await request("preferences", `/v1/customers/${id}/preferences/effective`, { signal }), labels];
      } catch (error) {
        // The preferences service has not seen this traveller yet: nothing to show, not an error.
        if (error?.notFound) return [{ preferences: [], conflicts: [], redacted_keys: [] }, labels];
        throw error;
      }
    },
    ([effective, labels]) => preferences(effective, labels),
  );
  cased.load(() => request("feedback", "/v1/cases", { params: { customer_id: customerId, limit: 50 }, signal }), cases);
  surveyed.load(
    () => request("feedback", `/v1/customers/${id}/surveys`, { params: { limit: 20 }, signal }).catch((error) => {
      if (error?.notFound) return { items: [] };
      throw error;
    }),
    surveys,
  );
  messages.load(() => request("notifications", "/v1/deliveries", { params: { customer_id: customerId, limit: 20 }, signal }), deliveries);
}
