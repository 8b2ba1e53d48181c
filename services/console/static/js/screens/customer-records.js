// The traveller's records and identity: the source records linked to them, the history of changes,
// and comparing with (and, for supervisors, merging) another traveller. Splitting a record off,
// undoing a merge and merging are offered only to a role that may, and each asks first.

import { request } from "../api.js";
import { control, empty, errorBox, evidenceTable, fieldError, runAction, table, time } from "../components.js";
import { announce, h, routeHref } from "../dom.js";
import * as format from "../format.js";
import { readable } from "../messages.js";
import * as session from "../session.js";

/** Where a value came from: source system, its record id and the rule that chose it. */
export function source(field) {
  return h("span", { class: "source" },
    h("span", { class: "source-system", text: field.source_system }),
    field.source_id ? h("span", { class: "source-id", text: field.source_id }) : null,
    field.rule ? h("span", { class: "rule", text: `chosen by ${field.rule}` }) : null,
  );
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

export function sourceRecords(ctx, page) {
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

export function history(ctx, page) {
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
export function mergeForm(ctx) {
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
