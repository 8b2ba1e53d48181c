// Building blocks shared by the screens: panels that load on their own, tables, errors, pagination.

import { describeError } from "./api.js";
import { h } from "./dom.js";
import * as format from "./format.js";

/** A problem shown to the agent (role=alert, so screen readers announce it when it appears). */
export function errorBox(error, { action = false } = {}) {
  const { headline, detail, signIn } = describeError(error);
  const shownHeadline = action && error?.forbidden ? "Your role may not do this." : headline;
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", { class: "error-headline", text: shownHeadline }),
    detail ? h("p", { class: "error-detail", text: detail }) : null,
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
    this.element = h(
      "section",
      { class: wide ? "panel panel-wide" : "panel", id, "aria-labelledby": headingId, "aria-busy": "false" },
      h("header", { class: "panel-header" }, this.heading, note ? h("p", { class: "panel-note", text: note }) : null),
      this.body,
    );
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
