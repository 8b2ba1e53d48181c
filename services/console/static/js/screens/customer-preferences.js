// The preferences panel: effective preferences with provenance, editing stated/agent ones,
// confirming or rejecting inferred ones, and the traveller's answers to "is this inference
// right?" (preferences API).

import { request } from "../api.js";
import { codeText, loadCodes } from "../codes.js";
import { badge, control, empty, runAction, select, table, time } from "../components.js";
import { h } from "../dom.js";
import * as format from "../format.js";
import * as session from "../session.js";

let catalogue = null;

/** The preferences catalogue (fetched once): key -> {description, kind, allowed, sensitive, minimum, maximum}.
 *
 * The fetch is shared by every render, so it is not tied to the signal of the render that started
 * it: a render cancelled by navigation would otherwise leave every other waiting render without
 * labels. A failed fetch gives plain keys for now and is tried again next time. */
function loadCatalogue() {
  catalogue ??= request("preferences", "/v1/preferences/catalogue")
    .then((specs) => Object.fromEntries((specs ?? []).map((s) => [s.key, s])))
    .catch(() => { catalogue = null; return {}; });
  return catalogue;
}

const SOURCES = {
  stated: ["ok", "stated by the traveller"],
  agent: ["ok", "set by an agent"],
  inferred: ["info", "inferred from bookings"],
  policy: ["warn", "company travel policy"],
};

/** A preference's value as a person reads it: codes with their names ("AVML (Asian vegetarian)"). */
function valueText(spec, value) {
  if (!spec?.code_table || value === null || value === undefined || format.isRedacted(value)) return format.value(value);
  const items = Array.isArray(value) ? value : [value];
  return items.length ? items.map((code) => codeText(spec.code_table, code)).join(", ") : "—";
}

/**
 * What a value rests on. Only an inference has a confidence and a count of bookings behind it;
 * a value somebody set, or the travel policy imposes, says when it was set instead (a "100 %
 * from 0 observations" would describe nothing).
 */
function basis(p) {
  if (p.source === "inferred") {
    return `${format.percent(p.confidence)} confidence · ${format.count(p.evidence_count ?? 0, "observation")}`;
  }
  if (p.source === "policy") return "applies to every traveller of the company";
  return h("span", {}, "since ", time(p.last_seen));
}

// Window-valued keys name their two ends differently.
const WINDOW_ENDS = { "air.departure_window": ["earliest", "latest"] };

function windowEnds(key) {
  return WINDOW_ENDS[key] ?? ["start", "end"];
}

/**
 * The value control(s) for one catalogue entry: {element, focusable, read(), write(value)}.
 * Values are sent as the agent typed them where they cannot be parsed: the service says what is wrong.
 */
function valueControl(key, spec) {
  const kind = spec?.kind ?? "text";
  if (kind === "enum") {
    const named = (v) => (spec.code_table ? codeText(spec.code_table, v) : format.humanize(v));
    const input = select("value", [["", "— choose —"], ...spec.allowed.map((v) => [v, named(v)])], "");
    return {
      element: control({ id: "pref-value", label: "Value", input }),
      focusable: input,
      read: () => input.value,
      write: (v) => { input.value = v ?? ""; },
    };
  }
  if (kind === "bool") {
    const input = select("value", [["true", "Yes"], ["false", "No"]], "true");
    return {
      element: control({ id: "pref-value", label: "Value", input }),
      focusable: input,
      read: () => input.value === "true",
      write: (v) => { input.value = v === false ? "false" : "true"; },
    };
  }
  if (kind === "window") {
    const [a, b] = windowEnds(key);
    const first = h("input", { name: a, type: "text", inputmode: "numeric", placeholder: "HH:MM", autocomplete: "off" });
    const second = h("input", { name: b, type: "text", inputmode: "numeric", placeholder: "HH:MM", autocomplete: "off" });
    return {
      element: h("div", { class: "form-row" },
        control({ id: "pref-value", label: `${format.humanize(a)} (HH:MM)`, input: first }),
        control({ id: "pref-value-2", label: `${format.humanize(b)} (HH:MM)`, input: second })),
      focusable: first,
      read: () => ({ [a]: first.value.trim(), [b]: second.value.trim() }),
      write: (v) => { first.value = v?.[a] ?? ""; second.value = v?.[b] ?? ""; },
    };
  }
  const input = h("input", { name: "value", type: kind === "int" ? "number" : "text", autocomplete: "off", spellcheck: "false" });
  if (kind === "int") {
    if (spec.minimum !== null) input.setAttribute("min", String(spec.minimum));
    if (spec.maximum !== null) input.setAttribute("max", String(spec.maximum));
  }
  const hints = {
    int: spec && spec.minimum !== null ? `A whole number from ${spec.minimum} to ${spec.maximum}.` : "A whole number.",
    enum_list: spec?.allowed?.length ? `Comma-separated, from: ${spec.allowed.join(", ")}.` : "Comma-separated.",
    code_list: "Comma-separated codes, e.g. LH, LX.",
    text_list: "Comma-separated names.",
    object_list: "Comma-separated PROGRAMME:NUMBER pairs, e.g. LH:992001234567.",
    language: "ISO 639-1 code, e.g. de or en-GB.",
    time_zone: "IANA name, e.g. Europe/Berlin.",
  };
  const list = ["enum_list", "code_list", "text_list"].includes(kind);
  return {
    element: control({ id: "pref-value", label: "Value", input, hint: hints[kind] ?? null, className: "field field-grow" }),
    focusable: input,
    read: () => {
      const text = input.value.trim();
      if (kind === "int") return /^-?\d+$/.test(text) ? Number(text) : text;
      if (list) return text ? text.split(",").map((x) => x.trim()).filter(Boolean) : [];
      if (kind === "object_list") {
        return text ? text.split(",").map((x) => {
          const [programme, ...number] = x.trim().split(":");
          return { programme: programme.trim(), number: number.join(":").trim() };
        }) : [];
      }
      return text;
    },
    write: (v) => {
      if (Array.isArray(v)) {
        input.value = v.map((x) => (x && typeof x === "object" ? `${x.programme}:${x.number}` : String(x))).join(", ");
      } else {
        input.value = v === null || v === undefined ? "" : String(v);
      }
    },
  };
}

/** The form that sets one stated or agent preference (preferences `PUT .../preferences`). */
function editForm(ctx, panel, specs) {
  const mayEditSensitive = session.may("sensitive-preferences");
  const keys = Object.values(specs).filter((s) => mayEditSensitive || !s.sensitive);
  if (!keys.length) {
    return { form: h("p", { class: "warn-text", text: "Preferences cannot be edited now: the catalogue of preferences did not load." }), edit: () => {} };
  }
  const keySelect = select("key", keys.map((s) => [s.key, `${s.description}${s.sensitive ? " (sensitive)" : ""}`]), keys[0]?.key);
  const sourceSelect = select("source", [["agent", "Set by me (agent)"], ["stated", "The traveller told me"]], "agent");
  const slot = h("div", { class: "value-slot" });
  const save = h("button", { type: "submit", class: "button button-primary", text: "Save preference" });
  const feedback = h("div", { class: "form-feedback" });
  let value = null;
  const form = h("form", { class: "edit-form", novalidate: true, "aria-labelledby": "pref-edit-title" },
    h("h3", { id: "pref-edit-title", text: "Set a preference" }),
    control({ id: "pref-key", label: "Preference", input: keySelect, className: "field field-grow" }),
    slot,
    control({ id: "pref-source", label: "Source", input: sourceSelect }),
    feedback,
    h("div", { class: "actions" }, save),
  );
  const choose = (key, current) => {
    keySelect.value = key;
    value = valueControl(key, specs[key]);
    slot.replaceChildren(value.element);
    if (current !== undefined) value.write(current);
  };
  keySelect.addEventListener("change", () => choose(keySelect.value));
  choose(keys[0].key);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keySelect.value;
    runAction({
      root: form, buttons: [save], feedback, notice: panel.status,
      fields: { [key]: value.focusable, values: value.focusable, source: sourceSelect },
      action: specs[key]?.sensitive ? "set sensitive preferences (supervisors only)" : "set preferences",
      run: () => request("preferences", `/v1/customers/${ctx.id}/preferences`, {
        method: "PUT", body: { values: { [key]: value.read() }, source: sourceSelect.value },
      }),
      success: `${specs[key]?.description ?? key} saved.`,
      done: () => {
        if (specs[key]?.sensitive) ctx.showSensitive = true; // the supervisor just set it: show it back
        return panel.refresh();
      },
    });
  });
  return {
    form,
    edit: (key, current) => {
      if (!keys.some((s) => s.key === key)) return;
      choose(key, current);
      value.focusable.focus();
    },
  };
}

function clearButton(ctx, panel, p, label, feedback) {
  const button = h("button", { type: "button", class: "button button-quiet", text: "Clear", "aria-label": `Clear ${label}` });
  button.addEventListener("click", () => runAction({
    root: panel.element, buttons: [button], feedback, notice: panel.status,
    action: p.sensitive ? "clear sensitive preferences (supervisors only)" : "clear preferences",
    run: () => request("preferences", `/v1/customers/${ctx.id}/preferences/${encodeURIComponent(p.key)}`, { method: "DELETE" }),
    success: `${label} cleared: inference and policy apply again.`,
    done: () => panel.refresh(),
  }));
  return button;
}

/**
 * Confirm or reject an inferred preference without a pending question (preferences `POST …/preferences/{key}/confirm`).
 * The value shown is sent along, so what is confirmed is what the agent saw, even if newer bookings changed the inference.
 */
function inferenceButtons(ctx, panel, p, label, feedback) {
  const yes = h("button", { type: "button", class: "button button-quiet", text: "Confirm", "aria-label": `Confirm ${label}` });
  const no = h("button", { type: "button", class: "button button-quiet", text: "Reject", "aria-label": `Reject ${label}` });
  const decide = (accepted) => runAction({
    root: panel.element, buttons: [yes, no], feedback, notice: panel.status,
    action: p.sensitive ? "confirm sensitive preferences (supervisors only)" : "confirm preferences",
    run: () => request("preferences", `/v1/customers/${ctx.id}/preferences/${encodeURIComponent(p.key)}/confirm`, {
      method: "POST", body: { accepted, value: p.value, source: "agent" },
    }),
    success: accepted ? `${label}: confirmed, now set by an agent.` : `${label}: rejected, no longer used or asked about.`,
    done: () => panel.refresh(),
  });
  yes.addEventListener("click", () => decide(true));
  no.addEventListener("click", () => decide(false));
  return [yes, no];
}

/** Why a preference is what it is (preferences `GET …/preferences/explain?key=`): explicit setting, inference, bookings. */
function whyButton(ctx, p, spec, label, slot) {
  const button = h("button", { type: "button", class: "button button-quiet", text: "Why?", "aria-label": `Why ${label}?`, "aria-expanded": "false" });
  button.addEventListener("click", async () => {
    if (button.getAttribute("aria-expanded") === "true") {
      button.setAttribute("aria-expanded", "false");
      slot.replaceChildren();
      return;
    }
    try {
      const params = { key: p.key, ...(p.sensitive ? { include_sensitive: "true" } : {}) };
      const result = await request("preferences", `/v1/customers/${ctx.id}/preferences/explain`, { params, signal: ctx.signal });
      const e = (result.explanations ?? [])[0];
      slot.replaceChildren(h("div", { class: "explain", role: "group", "aria-label": `Why ${label}` },
        h("p", {}, h("strong", { text: label }), `: ${p.source === "policy" ? "limited by the company's travel policy; " : ""}${e?.note ?? "no explanation"}.`),
        e?.explicit ? h("p", { class: "muted", text: `${e.explicit.source} by ${e.explicit.set_by}, ${format.dateTime(e.explicit.set_at)}` }) : null,
        e?.evidence?.length
          ? h("ul", { class: "segments" }, e.evidence.map((o) => h("li", {},
            `${o.supports ? "✓" : "✗"} booking ${o.booking}: ${valueText(spec, o.observed)} `,
            h("span", { class: "muted" }, o.detail ? `(${o.detail}) ` : "", time(o.at)))))
          : null,
      ));
      for (const other of button.closest("table")?.querySelectorAll("button[aria-expanded='true']") ?? []) other.setAttribute("aria-expanded", "false");
      button.setAttribute("aria-expanded", "true");
    } catch (error) {
      if (error?.name === "AbortError") return;
      slot.replaceChildren(h("p", { class: "warn-text", role: "alert", text: `No explanation: ${error.message}` }));
    }
  });
  return button;
}

/** Pending "is this right?" questions the traveller answered to the agent (preferences confirmations). */
function confirmations(ctx, panel, items, specs) {
  const pending = (items ?? []).filter((c) => c.status === "pending");
  if (!pending.length) return null;
  const feedback = h("div", { class: "form-feedback" });
  return h("div", { class: "confirmations" },
    h("h3", { text: "Inferences to confirm with the traveller" }),
    h("ul", { class: "items" }, pending.map((c) => {
      const label = specs[c.key]?.description ?? format.humanize(c.key);
      const yes = h("button", { type: "button", class: "button", text: "Traveller confirms", "aria-label": `Traveller confirms ${label}` });
      const no = h("button", { type: "button", class: "button", text: "Traveller declines", "aria-label": `Traveller declines ${label}` });
      const answer = (accepted) => runAction({
        root: panel.element, buttons: [yes, no], feedback, notice: panel.status,
        action: "answer for the traveller",
        run: () => request("preferences", `/v1/customers/${ctx.id}/preferences/confirmations/${encodeURIComponent(c.request_id)}`, {
          method: "POST", body: { accepted },
        }),
        success: accepted ? `${label}: confirmed, now stated by the traveller.` : `${label}: declined, no longer used.`,
        done: () => panel.refresh(),
      });
      yes.addEventListener("click", () => answer(true));
      no.addEventListener("click", () => answer(false));
      return h("li", { class: "item" },
        h("p", {}, h("strong", { text: label }), `: ${valueText(specs[c.key], c.value)} `, h("span", { class: "muted", text: `(confidence ${format.percent(c.confidence)})` })),
        // The traveller may also answer through the link sent to them, until it expires.
        c.link_expires_at ? h("p", { class: "muted", text: `Answer link for the traveller works until ${format.date(c.link_expires_at)}` }) : null,
        h("div", { class: "actions" }, yes, no),
      );
    })),
    feedback,
  );
}

function render(ctx, panel, [effective, specs, asked]) {
  // Withheld values come back redacted; the note below counts them instead of listing them.
  const items = (effective.preferences ?? []).filter((p) => !format.isRedacted(p.value));
  const conflicts = effective.conflicts ?? [];
  const redacted = effective.redacted_keys ?? [];
  const editor = editForm(ctx, panel, specs);
  const feedback = h("div", { class: "form-feedback" });
  const why = h("div", { class: "why" });
  const label = (key) => specs[key]?.description ?? format.humanize(key);
  return [
    items.length
      ? table({
        caption: "Effective preferences",
        columns: [{ label: "Preference" }, { label: "Value" }, { label: "Source" }, { label: "Action" }],
        rowHeaders: true,
        rows: items.map((p) => {
          const [tone, explained] = SOURCES[p.source] ?? ["neutral", p.source];
          return [
            h("span", {}, h("span", { text: label(p.key) }), h("code", { class: "key", text: p.key }),
              p.sensitive ? badge("sensitive", "bad") : null),
            valueText(specs[p.key], p.value),
            h("span", { class: "source" },
              h("span", {}, badge(p.source, tone), " ", h("span", { class: "rule", text: explained })),
              h("span", { class: "basis" }, basis(p))),
            h("span", { class: "actions" },
              whyButton(ctx, p, specs[p.key], label(p.key), why),
              p.source === "policy" ? null : h("button", {
                type: "button", class: "button button-quiet", text: "Change", "aria-label": `Change ${label(p.key)}`,
                on: { click: () => editor.edit(p.key, p.value) },
              }),
              p.source === "stated" || p.source === "agent" ? clearButton(ctx, panel, p, label(p.key), feedback) : null,
              p.source === "inferred" ? inferenceButtons(ctx, panel, p, label(p.key), feedback) : null,
            ),
          ];
        }),
      })
      : empty("No preferences known yet."),
    why,
    feedback,
    conflicts.length
      ? h("div", { class: "conflicts" },
        h("h3", { text: "Travel policy conflicts" }),
        h("ul", {}, conflicts.map((c) => h("li", {},
          h("strong", { text: label(c.key) }), ": ", c.message,
          h("span", { class: "muted", text: ` (prefers ${valueText(specs[c.key], c.preferred)}; policy allows ${valueText(specs[c.key], c.allowed)})` }),
        ))),
      )
      : h("p", { class: "muted", text: effective.policy_version ? "No conflicts with the company's travel policy." : "No company travel policy applies." }),
    redacted.length
      ? h("p", { class: "muted" },
        `${format.count(redacted.length, "sensitive preference")} hidden (dietary, accessibility, meals: supervisors only). `,
        session.may("sensitive-preferences")
          ? h("button", {
            type: "button", class: "button button-quiet", text: "Show sensitive needs",
            on: { click: () => { ctx.showSensitive = true; panel.refresh(); } },
          })
          : null)
      : null,
    confirmations(ctx, panel, asked, specs),
    editor.form,
  ];
}

export function renderPreferences(ctx, panel) {
  // Dietary and accessibility needs stay hidden until a supervisor asks for them (the service audits
  // that read); agents see only how many are hidden.
  ctx.showSensitive = false;
  panel.show(
    async () => {
      const sensitive = ctx.showSensitive && session.may("sensitive-preferences");
      const [specs] = await Promise.all([loadCatalogue(), loadCodes()]);
      const empty = { preferences: [], conflicts: [], redacted_keys: [] };
      const effective = await request("preferences", `/v1/customers/${ctx.id}/preferences/effective`, {
        params: sensitive ? { include_sensitive: "true" } : {}, signal: ctx.signal,
      }).catch((error) => {
        // The preferences service has not seen this traveller yet: nothing to show, not an error.
        if (error?.notFound) return empty;
        throw error;
      });
      const asked = await request("preferences", `/v1/customers/${ctx.id}/preferences/confirmations`, { signal: ctx.signal })
        .catch(() => []);
      return [effective, specs, asked];
    },
    (data) => render(ctx, panel, data),
  );
}
