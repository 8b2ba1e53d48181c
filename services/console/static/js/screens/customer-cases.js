// The cases panel: a traveller's complaint and request cases with their deadlines, and working them
// (feedback `PATCH /v1/cases/{id}`: status, priority, assignee, note; closing needs a supervisor).

import { request } from "../api.js";
import { badge, control, empty, runAction, select, table, time } from "../components.js";
import { h } from "../dom.js";
import * as format from "../format.js";
import * as session from "../session.js";

const DONE = new Set(["resolved", "closed"]);
const PRIORITIES = ["low", "normal", "high", "urgent"];
const STATUS_TEXT = {
  open: "Open",
  in_progress: "In progress",
  waiting_customer: "Waiting for the traveller",
  resolved: "Resolved",
  closed: "Closed",
};

function deadlines(c) {
  const breached = new Set(c.breaches ?? []);
  const line = (label, due, metAt, target) => h("li", {},
    `${label}: `,
    metAt ? ["done ", time(metAt, { withTime: true })] : ["due ", time(due, { withTime: true })],
    breached.has(target) ? [" ", badge("missed", "bad")] : null,
    (c.escalations ?? []).includes(target) ? [" ", badge("escalated", "bad")] : null,
  );
  return h("ul", { class: "deadlines" },
    line("First response", c.first_response_due, c.first_response_at, "first_response"),
    line("Resolution", c.resolution_due, c.resolved_at ?? c.closed_at, "resolution"),
  );
}

function historyList(entries) {
  if (!entries?.length) return empty("No history.");
  return table({
    caption: "Case history",
    columns: [{ label: "When" }, { label: "By" }, { label: "What" }, { label: "Detail" }],
    rows: [...entries].reverse().map((e) => [time(e.at, { withTime: true }), e.actor, format.humanize(e.action), format.value(e.detail)]),
  });
}

/** One case: its facts, deadlines and (unless closed) the form that works it. */
function caseCard(ctx, panel, c, { detail = null } = {}) {
  const n = c.case_id.replace(/[^A-Za-z0-9_-]/g, "");
  const headingId = `case-${n}-title`;
  const card = h("article", { class: "item case", "aria-labelledby": headingId });
  const historySlot = h("div", {});
  const showHistory = h("button", { type: "button", class: "button button-quiet", text: "Show history", "aria-expanded": "false" });
  const loadHistory = async () => {
    if (showHistory.getAttribute("aria-expanded") === "true") {
      showHistory.setAttribute("aria-expanded", "false");
      showHistory.textContent = "Show history";
      historySlot.replaceChildren();
      return;
    }
    try {
      const full = await request("feedback", `/v1/cases/${encodeURIComponent(c.case_id)}`, { signal: ctx.signal });
      historySlot.replaceChildren(historyList(full.history));
      showHistory.setAttribute("aria-expanded", "true");
      showHistory.textContent = "Hide history";
    } catch (error) {
      historySlot.replaceChildren(h("p", { class: "warn-text", text: `History could not be loaded: ${error.message}` }));
    }
  };
  showHistory.addEventListener("click", loadHistory);

  const parts = [
    h("div", { class: "item-head" },
      h("h3", { id: headingId, text: c.subject }),
      badge(c.status.replaceAll("_", " "), DONE.has(c.status) ? "ok" : "info"),
      badge(c.priority, c.priority === "urgent" || c.priority === "high" ? "warn" : "neutral"),
      c.escalated ? badge("escalated", "bad") : null,
    ),
    c.description ? h("p", { text: c.description }) : null,
    c.reading ? h("p", {}, c.reading.survey_id ? "Traveller's comment: " : "Read as: ", commentReading(c.reading)) : null,
    h("p", { class: "muted" },
      `${c.kind} · opened by ${c.opened_by} `, time(c.opened_at, { withTime: true }),
      c.assignee ? ` · assigned to ${c.assignee}` : " · unassigned",
      c.booking_id ? ` · booking ${c.booking_id}` : null,
    ),
    deadlines(c),
    (c.breaches ?? []).length ? h("p", { class: "warn-text", text: `SLA missed: ${c.breaches.map(format.humanize).join(", ")}` }) : null,
  ];
  if (c.status !== "closed") parts.push(caseForm(ctx, panel, c, card, n));
  parts.push(h("div", { class: "actions" }, showHistory), historySlot);
  card.replaceChildren(...parts.filter(Boolean));
  if (detail) {
    historySlot.replaceChildren(historyList(detail.history));
    showHistory.setAttribute("aria-expanded", "true");
    showHistory.textContent = "Hide history";
  }
  return card;
}

/** Sentiment and topics feedback read in a comment (negative ones also open or enrich a case). */
export function commentReading(reading) {
  const tone = reading.sentiment === "negative" ? "bad" : reading.sentiment === "positive" ? "ok" : "neutral";
  return h("span", {},
    badge(reading.sentiment, tone),
    (reading.topics ?? []).length ? ` ${reading.topics.map(format.humanize).join(", ")}` : null,
  );
}

/** The statuses this case may move to that the signed-in role may choose (closing is for supervisors). */
function reachable(c) {
  return (c.next_statuses ?? []).filter((s) => s !== "closed" || session.may("close-case"));
}

function caseForm(ctx, panel, c, card, n) {
  const status = select("status", [c.status, ...reachable(c)].map((s) => [s, STATUS_TEXT[s] ?? format.humanize(s)]), c.status);
  const priority = select("priority", PRIORITIES.map((p) => [p, format.humanize(p)]), c.priority);
  const assignee = h("input", { name: "assignee", type: "text", value: c.assignee ?? "", autocomplete: "off", spellcheck: "false" });
  const note = h("textarea", { name: "note", rows: "2" });
  const me = session.name();
  const assignMe = me ? h("button", { type: "button", class: "button button-quiet", text: "Assign to me" }) : null;
  const save = h("button", { type: "submit", class: "button button-primary", text: "Save changes" });
  const resolve = (c.next_statuses ?? []).includes("resolved")
    ? h("button", { type: "button", class: "button", text: "Resolve" })
    : null;
  const feedback = h("div", { class: "form-feedback" });
  const form = h("form", { class: "edit-form", novalidate: true, "aria-label": `Work case: ${c.subject}` },
    h("div", { class: "form-row" },
      control({ id: `case-${n}-status`, label: "Status", input: status }),
      control({ id: `case-${n}-priority`, label: "Priority", input: priority }),
      h("div", { class: "field" },
        h("label", { for: `case-${n}-assignee`, text: "Assignee" }),
        h("div", { class: "inline" }, assignee, assignMe),
      ),
    ),
    control({ id: `case-${n}-note`, label: "Note", input: note, className: "field field-grow", hint: "Added to the case's history." }),
    feedback,
    h("div", { class: "actions" }, save, resolve),
  );
  assignee.id = `case-${n}-assignee`;
  assignMe?.addEventListener("click", () => { assignee.value = me; assignee.focus(); });

  const submit = (changes) => {
    if (!Object.keys(changes).length) {
      feedback.replaceChildren(h("p", { class: "warn-text", role: "alert", text: "Nothing to save: change a field or write a note." }));
      return;
    }
    const closing = changes.status === "closed";
    runAction({
      root: form, buttons: [save, resolve].filter(Boolean), feedback, notice: panel.status,
      fields: { status, priority, assignee, note },
      action: closing ? "close a case (supervisors only)" : "change this case",
      run: () => request("feedback", `/v1/cases/${encodeURIComponent(c.case_id)}`, { method: "PATCH", body: changes }),
      success: (updated) => `Case “${updated.subject}” saved: ${STATUS_TEXT[updated.status] ?? updated.status}${updated.assignee ? `, assigned to ${updated.assignee}` : ""}.`,
      done: (updated) => card.replaceWith(caseCard(ctx, panel, updated, { detail: updated })),
    });
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const changes = {};
    if (status.value !== c.status) changes.status = status.value;
    if (priority.value !== c.priority) changes.priority = priority.value;
    const who = assignee.value.trim();
    if (who !== (c.assignee ?? "")) changes.assignee = who || null;
    if (note.value.trim()) changes.note = note.value.trim();
    submit(changes);
  });
  resolve?.addEventListener("click", () => {
    const changes = { status: "resolved" };
    if (note.value.trim()) changes.note = note.value.trim();
    submit(changes);
  });
  return form;
}

/** Open a new case for this traveller (feedback `POST /v1/cases`); its deadlines follow from the priority. */
function newCaseForm(ctx, panel) {
  const subject = h("input", { name: "subject", type: "text", autocomplete: "off" });
  const kind = select("kind", [["complaint", "Complaint"], ["request", "Request"]], "complaint");
  const priority = select("priority", PRIORITIES.map((p) => [p, format.humanize(p)]), "normal");
  const description = h("textarea", { name: "description", rows: "2" });
  const save = h("button", { type: "submit", class: "button", text: "Open case" });
  const feedback = h("div", { class: "form-feedback" });
  const form = h("form", { class: "edit-form", novalidate: true, "aria-labelledby": "new-case-title" },
    h("h3", { id: "new-case-title", text: "Open a case" }),
    h("div", { class: "form-row" },
      control({ id: "new-case-subject", label: "Subject", input: subject, className: "field field-grow" }),
      control({ id: "new-case-kind", label: "Kind", input: kind }),
      control({ id: "new-case-priority", label: "Priority", input: priority }),
    ),
    control({ id: "new-case-description", label: "Description", input: description, className: "field field-grow" }),
    feedback,
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    runAction({
      root: form, buttons: [save], feedback, notice: panel.status,
      fields: { subject, kind, priority, description },
      action: "open cases",
      run: () => request("feedback", "/v1/cases", {
        method: "POST",
        body: { customer_id: ctx.customerId, subject: subject.value.trim(), kind: kind.value, priority: priority.value, description: description.value.trim() },
      }),
      success: (created) => `Case “${created.subject}” opened.`,
      done: () => panel.refresh(),
    });
  });
  return form;
}

function render(ctx, panel, page) {
  const all = page.items ?? [];
  const open = all.filter((c) => !DONE.has(c.status));
  const done = all.filter((c) => DONE.has(c.status));
  return [
    open.length ? h("div", { class: "items" }, open.map((c) => caseCard(ctx, panel, c))) : empty("No open cases."),
    done.length
      ? h("details", { class: "done-cases" },
        h("summary", { text: `${format.count(done.length, "resolved or closed case")}` }),
        h("div", { class: "items" }, done.map((c) => caseCard(ctx, panel, c))))
      : null,
    newCaseForm(ctx, panel),
  ];
}

export function renderCases(ctx, panel) {
  panel.show(
    () => request("feedback", "/v1/cases", { params: { customer_id: ctx.customerId, limit: 50 }, signal: ctx.signal }),
    (page) => render(ctx, panel, page),
  );
}
