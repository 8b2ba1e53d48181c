// Building blocks shared by the screens: panels that load on their own, tables, errors, pagination.

import { describeError } from "./api.js";
import { announce, h } from "./dom.js";
import * as format from "./format.js";
import { readable } from "./messages.js";

/**
 * A problem shown to the agent (role=alert, so screen readers announce it when it appears).
 * `action`: what the agent tried ("merge travellers"), so a 403 reads "Your role cannot merge travellers."
 */
export function errorBox(error, { action = false } = {}) {
  const { headline, detail, signIn } = describeError(error);
  const fieldErrors = Array.isArray(error?.problem?.errors) ? error.problem.errors : [];
  let shownHeadline = headline;
  let shownDetail = detail;
  if (action && error?.forbidden) shownHeadline = typeof action === "string" ? `Your role cannot ${action}.` : "Your role may not do this.";
  if (error?.status === 422 && fieldErrors.length) {
    // The list below says what is wrong; the problem's own detail only names the fields.
    shownHeadline = "Not saved: please check this.";
    shownDetail = null;
  }
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", { class: "error-headline", text: shownHeadline }),
    shownDetail ? h("p", { class: "error-detail", text: shownDetail }) : null,
    fieldErrors.length
      ? h("ul", { class: "error-list" }, fieldErrors.map((e) => h("li", { text: e.field ? `${format.fieldLabel(e.field)}: ${readable(e.message)}` : readable(e.message) })))
      : null,
    error?.correlationId ? h("p", { class: "error-ref" }, "Reference: ", h("code", { text: error.correlationId })) : null,
    signIn ? h("p", {}, h("a", { href: "#/signin", text: "Sign in again" })) : null,
  );
}

export function empty(text) {
  return h("p", { class: "empty", text });
}

function loading() {
  return h("p", { class: "loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), "Loading…");
}

/**
 * A titled region of a screen that loads its own data and shows its own error:
 * one failing panel never blanks the others.
 */
export class Panel {
  constructor({ id, title, wide = false, note = null }) {
    const headingId = `${id}-title`;
    this.heading = h("h2", { id: headingId, text: title });
    this.body = h("div", { class: "panel-body" });
    // Outcome of the last change made in this panel: kept while the panel reloads its data.
    // A live region from the start, so screen readers announce what is put in it later.
    this.status = h("div", { class: "panel-status", role: "status", "aria-live": "polite" });
    this.element = h(
      "section",
      { class: wide ? "panel panel-wide" : "panel", id, "aria-labelledby": headingId, "aria-busy": "false" },
      h("header", { class: "panel-header" }, this.heading, note ? h("p", { class: "panel-note", text: note }) : null),
      this.status,
      this.body,
    );
    this.reload = null;
  }

  /** Like `load`, and remembers how, so `refresh()` can load the same data again after a change. */
  show(task, render) {
    this.reload = () => this.load(task, render);
    return this.reload();
  }

  refresh() {
    return this.reload ? this.reload() : Promise.resolve(false);
  }

  /** Run `task` (returns a promise of data) and show `render(data)`, or the error. */
  async load(task, render) {
    this.element.setAttribute("aria-busy", "true");
    this.body.replaceChildren(loading());
    try {
      const data = await task();
      const content = render(data);
      this.body.replaceChildren(...[content].flat().filter(Boolean));
      return true;
    } catch (error) {
      if (error?.name === "AbortError") return false;
      this.body.replaceChildren(errorBox(error));
      return false;
    } finally {
      this.element.setAttribute("aria-busy", "false");
    }
  }
}

/**
 * A table. columns: [{label, className}]; rows: arrays of cells (strings or nodes).
 * The first cell of each row is its header when `rowHeaders` is set.
 */
export function table({ caption, columns, rows, rowHeaders = false, className = "" }) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.className, text: c.label }))));
  const body = h(
    "tbody",
    {},
    rows.map((cells) =>
      h(
        "tr",
        {},
        cells.map((cell, i) =>
          h(
            i === 0 && rowHeaders ? "th" : "td",
            { scope: i === 0 && rowHeaders ? "row" : null, class: columns[i]?.className, "data-label": columns[i]?.label },
            cell,
          ),
        ),
      ),
    ),
  );
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "group", "aria-label": caption },
    h("table", { class: `data ${className}`.trim() }, h("caption", { class: "visually-hidden", text: caption }), head, body),
  );
}

export function time(value, { withTime = false } = {}) {
  return h("time", { datetime: format.isoValue(value), text: withTime ? format.dateTime(value) : format.date(value) });
}

export function badge(text, tone = "neutral") {
  return h("span", { class: `badge badge-${tone}`, text });
}

/** Previous/next links for a page of results; `href(offset)` builds each link. */
export function pagination({ label, offset, limit, count, nextOffset, href }) {
  const first = count ? offset + 1 : 0;
  const last = offset + count;
  const previous = offset > 0
    ? h("a", { class: "button", href: href(Math.max(0, offset - limit)), rel: "prev", text: "← Previous" })
    : h("span", { class: "button", "aria-disabled": "true", text: "← Previous" });
  const next = nextOffset !== null && nextOffset !== undefined
    ? h("a", { class: "button", href: href(nextOffset), rel: "next", text: "Next →" })
    : h("span", { class: "button", "aria-disabled": "true", text: "Next →" });
  return h(
    "nav",
    { class: "pagination", "aria-label": label },
    previous,
    h("span", { class: "pagination-range", text: count ? `${first}–${last}` : "none" }),
    next,
  );
}

/** A definition list from [term, description] pairs (descriptions may be nodes). */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([term, description]) => h("div", {}, h("dt", { text: term }), h("dd", {}, description))));
}

/** A success note (put into a live region, or announced, by the caller). */
export function okBox(text) {
  return h("div", { class: "ok" }, h("p", { text }));
}

/** Show `message` under a form control, linked to it for screen readers. */
export function fieldError(input, message) {
  const id = `${input.id}-error`;
  let note = document.getElementById(id);
  if (!note) {
    note = h("p", { id, class: "field-error" });
    input.insertAdjacentElement("afterend", note);
  }
  note.textContent = message;
  input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") ?? "").split(" ").filter(Boolean);
  if (!described.includes(id)) input.setAttribute("aria-describedby", [...described, id].join(" "));
}

/** Remove every field error inside `root`. */
export function clearFieldErrors(root) {
  for (const note of root.querySelectorAll(".field-error")) {
    const input = root.querySelector(`[aria-describedby~="${note.id}"]`);
    if (input) {
      input.removeAttribute("aria-invalid");
      const rest = (input.getAttribute("aria-describedby") ?? "").split(" ").filter((x) => x && x !== note.id);
      if (rest.length) input.setAttribute("aria-describedby", rest.join(" "));
      else input.removeAttribute("aria-describedby");
    }
    note.remove();
  }
}

let dialogs = 0;

/**
 * Ask before a change that is hard to take back (merge, split, undo a merge): a modal dialog
 * saying what will happen, with a button that does it and one that does not. Resolves to true
 * only when the agent confirms; Cancel and Escape resolve to false. Focus starts on Cancel, so a
 * stray Enter changes nothing, and returns to where it was when the dialog closes.
 * `body`: paragraphs (strings or nodes).
 */
export function confirmChange({ title, body = [], confirm }) {
  return new Promise((resolve) => {
    dialogs += 1;
    const titleId = `confirm-${dialogs}-title`;
    const bodyId = `confirm-${dialogs}-body`;
    const yes = h("button", { type: "button", class: "button button-primary", text: confirm });
    const no = h("button", { type: "button", class: "button", text: "Cancel" });
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": titleId, "aria-describedby": bodyId },
      h("h2", { id: titleId, text: title }),
      h("div", { id: bodyId }, [body].flat().filter(Boolean).map((p) => (typeof p === "string" ? h("p", { text: p }) : p))),
      h("div", { class: "actions" }, yes, no),
    );
    const opener = document.activeElement;
    let answered = false;
    const answer = (confirmed) => {
      if (answered) return;
      answered = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      if (!confirmed) announce("Cancelled: nothing was changed.");
      resolve(confirmed);
    };
    yes.addEventListener("click", () => answer(true));
    no.addEventListener("click", () => answer(false));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); answer(false); }); // Escape
    dialog.addEventListener("close", () => answer(false));
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

/**
 * Run one change against an API from a form or button, the same way everywhere:
 * with `confirm` ({title, body, confirm}, see `confirmChange`) the agent is asked first and a
 * "Cancel" changes nothing; buttons are disabled while it runs; a 422 problem's field errors go
 * next to their controls (`fields`: API field name -> control), in words (`messages.readable`);
 * any other problem, or a field without a control, goes into `feedback`; success is shown in
 * `notice` (a live region) or else in `feedback` and announced, then `done(result)` renders it.
 */
export async function runAction({ root, buttons = [], feedback, notice = null, fields = {}, action, confirm = null, run, success, done }) {
  if (confirm && !(await confirmChange(confirm))) return undefined;
  for (const b of buttons) b.disabled = true;
  root.setAttribute("aria-busy", "true");
  clearFieldErrors(root);
  feedback.replaceChildren();
  notice?.replaceChildren();
  try {
    const result = await run();
    const message = typeof success === "function" ? success(result) : success;
    const note = message ? okBox(message) : null;
    if (note) {
      (notice ?? feedback).replaceChildren(note);
      if (!notice) announce(message); // a notice is a live region of its own
    }
    if (done) await done(result);
    // The control that was used may have been re-rendered away: keep keyboard users in place.
    if (note && note.isConnected && (!document.activeElement || document.activeElement === document.body)) {
      note.setAttribute("tabindex", "-1");
      note.focus();
    }
    return result;
  } catch (error) {
    if (error?.name === "AbortError") return undefined;
    const problems = error?.status === 422 && Array.isArray(error.problem?.errors) ? error.problem.errors : [];
    const unplaced = [];
    let first = null;
    for (const p of problems) {
      const input = fields[p.field] ?? fields[String(p.field ?? "").split(".").pop()];
      if (input) {
        fieldError(input, readable(p.message));
        first ??= input;
      } else {
        unplaced.push(p);
      }
    }
    if (first && !unplaced.length) {
      announce(`Not saved: ${problems.map((p) => readable(p.message)).join(" ")}`);
      first.focus();
    } else {
      feedback.replaceChildren(errorBox(error, { action }));
    }
    return undefined;
  } finally {
    for (const b of buttons) b.disabled = false;
    root.removeAttribute("aria-busy");
  }
}

/** A labelled form control: label, control, optional hint (linked by aria-describedby). */
export function control({ id, label, input, hint = null, className = "field" }) {
  input.id = id;
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: className },
    h("label", { for: id, text: label }),
    input,
    hint ? h("p", { id: `${id}-hint`, class: "hint", text: hint }) : null,
  );
}

/** A <select> of [value, text] options with `selected` chosen. */
export function select(name, options, selected) {
  return h("select", { name }, options.map(([value, text]) => h("option", { value, selected: value === selected, text })));
}

/**
 * Per-field match evidence (profile's explain and review items): one row per compared field.
 * `sides`: the column labels of the two records; `whenEmpty`: what stands there without evidence.
 */
export function evidenceTable({ caption, rows, sides, whenEmpty = null }) {
  if (!rows?.length) return whenEmpty;
  return table({
    caption,
    columns: [{ label: "Field" }, { label: sides[0] }, { label: sides[1] }, { label: "Agreement" }, { label: "Weight", className: "num" }],
    rowHeaders: true,
    rows: rows.map((e) => [
      format.humanize(e.field),
      e.a ?? "—",
      e.b ?? "—",
      format.humanize(e.level ?? ""),
      typeof e.weight === "number" ? e.weight.toFixed(1) : "—",
    ]),
  });
}
