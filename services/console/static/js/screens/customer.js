// The 360° traveller page: every panel asks its own service and shows its own error.
// Changes go through the services' own APIs, which check the role; the page only explains refusals.

import { request } from "../api.js";
import { codesLoaded, loadCodes } from "../codes.js";
import {
  Panel, badge, confirmChange, control, empty, errorBox, evidenceTable, facts, fieldError, runAction, select, table, time,
} from "../components.js";
import { announce, h, routeHref } from "../dom.js";
import * as format from "../format.js";
import { readable } from "../messages.js";
import * as session from "../session.js";
import { renderCases } from "./customer-cases.js";
import { renderConsents, renderDeliveries } from "./customer-messages.js";
import { renderPreferences } from "./customer-preferences.js";

function source(field) {
  return h("span", { class: "source" },
    h("span", { class: "source-system", text: field.source_system }),
    field.source_id ? h("span", { class: "source-id", text: field.source_id }) : null,
    field.rule ? h("span", { class: "rule", text: `chosen by ${field.rule}` }) : null,
  );
}

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
            h("span", { class: "value", text: format.value(f.value) }),
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

/** The traveller's name as the page shows it in its heading (the id until the golden record is loaded). */
function travellerName(ctx) {
  return ctx.heading.textContent && ctx.heading.textContent !== "Traveller" ? ctx.heading.textContent : ctx.customerId;
}

/** Split one source record off into a traveller of its own (profile `POST .../split`, supervisors), once confirmed. */
function splitButton(ctx, record, feedback) {
  const label = `${record.source_system}:${record.source_id}`;
  const button = h("button", { type: "button", class: "button button-quiet", text: "Split off", "aria-label": `Split off ${label}` });
  button.addEventListener("click", () => {
    runAction({
      root: ctx.sources.element, buttons: [button], feedback, notice: ctx.sources.status,
      action: "split a record off (supervisors only)",
      confirm: {
        title: `Split ${label} off?`,
        body: [
          `The record becomes a traveller of its own, taking the bookings that came with it; ${travellerName(ctx)} keeps the other records.`,
          "Do this when the record belongs to somebody else. Merging the two again needs a supervisor.",
        ],
        confirm: "Split off",
      },
      run: () => request("profile", `/v1/customers/${ctx.id}/split`, {
        method: "POST", body: { source_system: record.source_system, source_id: record.source_id },
      }),
      success: (result) => `${label} is now traveller ${result.new_customer_id}.`,
      done: (result) => {
        ctx.sources.status.append(h("p", {}, h("a", { href: routeHref("customers", result.new_customer_id), text: "Open the new traveller" })));
        return ctx.refresh("golden", "sources", "history");
      },
    });
  });
  return button;
}

function sourceRecords(ctx, page) {
  const items = page.items ?? [];
  if (!items.length) return empty("No source records.");
  const feedback = h("div", { class: "form-feedback" });
  const maySplit = session.may("split");
  const columns = [{ label: "Source" }, { label: "Received" }, { label: "Match" }, { label: "Seen" }];
  return [
    table({
      caption: "Source records",
      columns: maySplit ? [...columns, { label: "Action" }] : columns,
      rowHeaders: true,
      rows: items.map((r) => {
        const received = r.received ?? {};
        const traveller = received.traveller ?? received;
        const problems = Object.entries(r.problems ?? {});
        return [
          source(r),
          h("div", {},
            h("span", { text: format.value(Object.fromEntries(Object.entries(traveller).filter(([, v]) => typeof v !== "object" || v === null))) }),
            problems.length ? h("p", { class: "warn-text", text: `Problems: ${problems.map(([k, v]) => `${format.fieldLabel(k)}: ${readable(v)}`).join(" ")}` }) : null,
          ),
          h("span", {}, r.match_rule, r.match_score !== null && r.match_score !== undefined ? ` · ${Number(r.match_score).toFixed(1)}` : ""),
          h("span", {}, time(r.first_seen), " – ", time(r.last_seen)),
          maySplit ? (items.length > 1 ? splitButton(ctx, r, feedback) : h("span", { class: "muted", text: "only record" })) : null,
        ].filter((cell) => cell !== null);
      }),
    }),
    feedback,
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

const CHANGES = {
  created: "Created",
  "source-record-linked": "Source record linked",
  corrected: "Field corrected",
  "correction-withdrawn": "Correction withdrawn",
  merged: "Merged",
  "merged-into": "Merged into another traveller",
  unmerged: "Merge undone",
  restored: "Restored from a merge",
  "record-split-off": "Record split off",
  "review-rejected": "Kept apart (review rejected)",
  "email-undeliverable": "Email undeliverable",
};

function historyDetail(entry) {
  const d = entry.detail ?? {};
  switch (entry.change) {
    case "corrected": return `${format.fieldLabel(d.field ?? "")}: ${format.value(d.value)}`;
    case "correction-withdrawn": return `${format.fieldLabel(d.field ?? "")} (was ${format.value(d.value)})`;
    case "merged": return `${d.absorbed_id} merged into ${d.survivor_id} (${d.reason ?? "—"})`;
    case "merged-into": return `merged into ${d.survivor_id}`;
    case "unmerged":
    case "restored": return `${d.restored_id} separated from ${d.survivor_id}`;
    case "record-split-off": return format.value(d);
    default: return format.value(d);
  }
}

/** Undo one merge (profile `POST /v1/merges/{id}/undo`, supervisors), once confirmed. */
function undoButton(ctx, mergeId, absorbedId, feedback) {
  const button = h("button", { type: "button", class: "button button-quiet", text: "Undo merge", "aria-label": `Undo merge of ${absorbedId}` });
  button.addEventListener("click", () => {
    runAction({
      root: ctx.history.element, buttons: [button], feedback, notice: ctx.history.status,
      action: "undo a merge (supervisors only)",
      confirm: {
        title: `Undo the merge of ${absorbedId}?`,
        body: [
          `${absorbedId} becomes a traveller of its own again, with the source records and bookings it brought to ${travellerName(ctx)}.`,
          "Merging them again needs a supervisor.",
        ],
        confirm: "Undo merge",
      },
      run: () => request("profile", `/v1/merges/${encodeURIComponent(mergeId)}/undo`, { method: "POST" }),
      success: `Merge undone: ${absorbedId} is a traveller of its own again.`,
      done: () => ctx.refresh("golden", "sources", "history", "bookings"),
    });
  });
  return button;
}

function history(ctx, page) {
  const items = page.items ?? [];
  if (!items.length) return empty("No changes recorded.");
  const undone = new Set(items.filter((e) => e.change === "unmerged").map((e) => e.detail?.merge_id));
  const feedback = h("div", { class: "form-feedback" });
  const mayUndo = session.may("undo-merge");
  const columns = [{ label: "When" }, { label: "Change" }, { label: "By" }, { label: "Detail" }];
  const undoable = (e) => e.change === "merged" && e.detail?.merge_id && e.detail?.survivor_id === ctx.customerId && !undone.has(e.detail.merge_id);
  return [
    table({
      caption: "History",
      columns: mayUndo ? [...columns, { label: "Action" }] : columns,
      rows: items.map((e) => [
        time(e.at, { withTime: true }),
        CHANGES[e.change] ?? format.humanize(e.change),
        e.actor ?? "automatic",
        historyDetail(e),
        ...(mayUndo ? [undoable(e) ? undoButton(ctx, e.detail.merge_id, e.detail.absorbed_id, feedback) : ""] : []),
      ]),
    }),
    feedback,
  ];
}

/** The other traveller's name, for the question before a merge (its id when it has none); throws the API's error. */
async function nameOf(customerId, signal) {
  const other = await request("profile", `/v1/customers/${encodeURIComponent(customerId)}`, { signal });
  const name = other?.fields?.display_name?.value;
  return name ? `${name} (${customerId})` : customerId;
}

/**
 * Compare another traveller with this one (profile `GET /v1/explain`, any agent) and, for a role that may,
 * merge it into this one once confirmed (`POST /v1/merges`, supervisors).
 */
function mergeForm(ctx) {
  const mayMerge = session.may("merge");
  const other = h("input", { name: "absorbed_id", type: "text", autocomplete: "off", spellcheck: "false", required: true });
  const compare = h("button", { type: "button", class: mayMerge ? "button" : "button button-primary", text: "Compare" });
  const merge = mayMerge ? h("button", { type: "submit", class: "button button-primary", text: "Merge into this traveller" }) : null;
  const feedback = h("div", { class: "form-feedback" });
  const comparison = h("div", { class: "comparison", "aria-live": "polite" });
  const form = h("form", { class: "edit-form", novalidate: true, "aria-label": mayMerge ? "Merge a duplicate" : "Compare with a suspected duplicate" },
    control({
      id: "merge-other", label: mayMerge ? "Duplicate traveller id" : "Other traveller id", input: other, className: "field field-grow",
      hint: mayMerge
        ? "Its records, bookings and history move here; its id keeps pointing here. A supervisor can undo the merge from the history."
        : "Compare field by field. Merging the two is for a supervisor; the review queue collects suspected duplicates for them.",
    }),
    feedback,
    h("div", { class: "actions" }, compare, merge),
    comparison,
  );
  const buttons = [compare, merge].filter(Boolean);
  const otherId = () => other.value.trim();
  compare.addEventListener("click", () => {
    runAction({
      root: form, buttons, feedback,
      fields: { customer_b: other },
      action: "compare travellers",
      run: () => request("profile", "/v1/explain", { params: { customer_a: ctx.customerId, customer_b: otherId() } }),
      done: (result) => {
        const r = result.result;
        comparison.replaceChildren(
          r
            ? h("div", {},
              h("p", {}, h("strong", { text: `Score ${Number(r.score).toFixed(1)}` }), ` · ${format.humanize(r.decision ?? "")} · ${r.rule ?? ""}`),
              evidenceTable({ caption: `Comparison with ${otherId()}`, rows: r.evidence, sides: ["This traveller", "Other"], whenEmpty: empty("No fields to compare.") }))
            : empty("These travellers have no records to compare."),
        );
        announce(r ? `Compared: score ${Number(r.score).toFixed(1)}.` : "Nothing to compare.");
      },
    });
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!merge) return; // Enter in the id field of a role that may only compare
    const absorbed = otherId();
    feedback.replaceChildren();
    if (!absorbed) {
      fieldError(other, "Enter the id of the duplicate traveller.");
      other.focus();
      return;
    }
    let otherName;
    try {
      otherName = await nameOf(absorbed, ctx.signal);
    } catch (error) {
      if (error?.name !== "AbortError") feedback.replaceChildren(errorBox(error, { action: "look that traveller up" }));
      return;
    }
    runAction({
      root: form, buttons, feedback, notice: ctx.merge.status,
      fields: { absorbed_id: other, survivor_id: other },
      action: "merge travellers (supervisors only)",
      confirm: {
        title: `Merge ${otherName} into ${travellerName(ctx)}?`,
        body: [
          `${otherName}'s source records, bookings and history move to ${travellerName(ctx)}, and the id ${absorbed} then leads here.`,
          "A supervisor can undo the merge from the History panel.",
        ],
        confirm: "Merge",
      },
      run: () => request("profile", "/v1/merges", { method: "POST", body: { survivor_id: ctx.customerId, absorbed_id: absorbed } }),
      success: `${absorbed} was merged into this traveller.`,
      done: () => {
        other.value = "";
        comparison.replaceChildren();
        return ctx.refresh("golden", "sources", "history", "bookings");
      },
    });
  });
  return form;
}

export function renderCustomer(root, { match, signal }) {
  const customerId = decodeURIComponent(match[1]);
  const heading = h("h1", { text: "Traveller" });
  const subtitle = h("p", { class: "subtitle" }, h("code", { text: customerId }));
  document.title = "Traveller · Itinera console";

  const panels = {
    golden: new Panel({ id: "golden", title: "Golden record", wide: true, note: "Each field's value with the source system it came from. Agents correct fields here." }),
    bookings: new Panel({ id: "bookings", title: "Recent bookings" }),
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
  panels.surveys.show(
    () => request("feedback", `/v1/customers/${id}/surveys`, { params: { limit: 20 }, signal }).catch((error) => {
      if (error?.notFound) return { items: [] };
      throw error;
    }),
    surveys,
  );
  renderConsents(ctx, panels.consents);
  renderDeliveries(ctx, panels.messages);
}
