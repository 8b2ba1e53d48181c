// Messages to the traveller (notifications API): deliveries and their status, consents and quiet hours.

import { request } from "../api.js";
import { badge, control, empty, runAction, table, time } from "../components.js";
import { h } from "../dom.js";
import * as format from "../format.js";

const PURPOSE_TEXT = {
  transactional: "Transactional (bookings, changes)",
  service: "Service (surveys, tips)",
  marketing: "Marketing",
};

function deliveries(page) {
  const items = page.items ?? [];
  if (!items.length) return empty("No messages.");
  return table({
    caption: "Message deliveries",
    columns: [{ label: "Message" }, { label: "Channel" }, { label: "Status" }, { label: "Recipient" }, { label: "Attempts", className: "num" }, { label: "When" }],
    rowHeaders: true,
    rows: items.map((d) => [
      h("span", {}, h("span", { text: d.subject || format.humanize(d.template) }), h("span", { class: "muted", text: ` · ${d.purpose}` })),
      d.channel,
      h("span", {},
        badge(d.status, d.status === "sent" ? "ok" : d.status === "failed" ? "bad" : "neutral"),
        d.hold_reason ? h("span", { class: "muted", text: ` ${d.hold_reason.replaceAll("_", " ")}` }) : null,
        d.next_attempt_at ? h("span", { class: "muted" }, " · next try ", time(d.next_attempt_at, { withTime: true })) : null,
        d.last_error ? h("span", { class: "warn-text", text: ` ${d.last_error}` }) : null,
      ),
      d.recipient ?? "—",
      String(d.attempts ?? 0),
      time(d.sent_at ?? d.failed_at ?? d.created_at, { withTime: true }),
    ]),
  });
}

export function renderDeliveries(ctx, panel) {
  panel.show(
    () => request("notifications", "/v1/deliveries", { params: { customer_id: ctx.customerId, limit: 20 }, signal: ctx.signal }),
    deliveries,
  );
}

/** One checkbox per purpose and channel; each change is one consent decision (`PUT .../consents`). */
function consentTable(ctx, panel, consents, feedback) {
  const purposes = [...new Set(consents.effective.map((e) => e.purpose))];
  const channels = [...new Set(consents.effective.map((e) => e.channel))];
  const byKey = Object.fromEntries(consents.effective.map((e) => [`${e.purpose}:${e.channel}`, e]));
  const box = (purpose, channel) => {
    const e = byKey[`${purpose}:${channel}`];
    if (!e) return "—";
    const label = `${format.humanize(purpose)} messages by ${channel}`;
    const input = h("input", { type: "checkbox", id: `consent-${purpose}-${channel}`, checked: e.allowed, "aria-label": label });
    input.addEventListener("change", () => runAction({
      root: panel.element, buttons: [input], feedback, notice: panel.status,
      action: "change consents",
      run: () => request("notifications", `/v1/customers/${ctx.id}/consents`, {
        method: "PUT", body: { purpose, channel, granted: input.checked, source: "agent console" },
      }),
      success: `${label}: ${input.checked ? "allowed" : "not allowed"}.`,
      done: () => panel.refresh(),
    }).then((result) => { if (result === undefined) input.checked = !input.checked; }));
    const origin = { consents: " explicit", preferences: " stated in preferences" }[e.decided_in] ?? " default";
    return h("span", { class: "consent" }, input, h("span", { class: "muted", text: origin }));
  };
  return table({
    caption: "Consents",
    columns: [{ label: "Purpose" }, ...channels.map((c) => ({ label: format.humanize(c) }))],
    rowHeaders: true,
    rows: purposes.map((p) => [PURPOSE_TEXT[p] ?? format.humanize(p), ...channels.map((c) => box(p, c))]),
  });
}

const hhmm = (value) => (value ? String(value).slice(0, 5) : "");

/** Where the quiet hours in force come from, in words. */
function quietHoursOrigin(quiet) {
  const when = quiet.updated_at ? ` on ${format.dateTime(quiet.updated_at)}` : "";
  switch (quiet.source) {
    case "default": return "The default applies (nobody set quiet hours for this traveller).";
    case "preferences": return `Stated in the traveller's preferences${when}; saving here overrides it.`;
    case "agent": return `Set by ${quiet.updated_by ?? "an agent"} (agent)${when}.`;
    default: return `Set by ${quiet.updated_by ?? "—"}${when}.`;
  }
}

/** The quiet-hours form (`PUT .../quiet-hours`): service and marketing messages wait; transactional ones do not. */
function quietHoursForm(ctx, panel, quiet) {
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: quiet.enabled });
  const start = h("input", { type: "time", name: "start", value: hhmm(quiet.start), required: true });
  const end = h("input", { type: "time", name: "end", value: hhmm(quiet.end), required: true });
  const save = h("button", { type: "submit", class: "button button-primary", text: "Save quiet hours" });
  const feedback = h("div", { class: "form-feedback" });
  const form = h("form", { class: "edit-form", novalidate: true, "aria-labelledby": "quiet-title" },
    h("h3", { id: "quiet-title", text: "Quiet hours" }),
    h("p", { class: "hint", text: quietHoursOrigin(quiet) }),
    h("div", { class: "field field-inline" }, enabled, h("label", { for: "quiet-enabled", text: "Hold service and marketing messages at night" })),
    h("div", { class: "form-row" },
      control({ id: "quiet-start", label: "From (traveller's local time)", input: start }),
      control({ id: "quiet-end", label: "Until", input: end }),
    ),
    feedback,
    h("div", { class: "actions" }, save),
  );
  enabled.id = "quiet-enabled";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    runAction({
      root: form, buttons: [save], feedback, notice: panel.status,
      fields: { start, end, enabled },
      action: "change quiet hours",
      run: () => request("notifications", `/v1/customers/${ctx.id}/quiet-hours`, {
        method: "PUT", body: { enabled: enabled.checked, start: start.value, end: end.value },
      }),
      success: (q) => (q.enabled ? `Quiet hours saved: ${hhmm(q.start)}–${hhmm(q.end)}.` : "Quiet hours switched off."),
      done: () => panel.refresh(),
    });
  });
  return form;
}

export function renderConsents(ctx, panel) {
  panel.show(
    () => Promise.all([
      request("notifications", `/v1/customers/${ctx.id}/consents`, { signal: ctx.signal }),
      request("notifications", `/v1/customers/${ctx.id}/quiet-hours`, { signal: ctx.signal }),
    ]),
    ([consents, quiet]) => {
      const feedback = h("div", { class: "form-feedback" });
      return [consentTable(ctx, panel, consents, feedback), feedback, quietHoursForm(ctx, panel, quiet)];
    },
  );
}
