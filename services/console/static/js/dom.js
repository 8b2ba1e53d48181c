// Building DOM nodes safely: every value becomes a text node or a property, never markup.

/**
 * Create an element.
 * props: {class, text, on: {event: handler}, dataset: {...}, and any attribute (aria-*, href, type...)}.
 * children: nodes, strings (as text), numbers, or null/undefined/false (skipped); arrays are flattened.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = String(value);
    else if (name === "on") for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "href") el.setAttribute("href", safeHref(value));
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

// Only in-app routes and http(s) links; anything else (javascript:, data:) becomes inert.
function safeHref(value) {
  const text = String(value);
  if (text.startsWith("#") || text.startsWith("/")) return text;
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : "#";
  } catch {
    return "#";
  }
}

/** An in-app link to a hash route built from path segments (each segment is URI-encoded). */
export function routeHref(...segments) {
  return "#/" + segments.map((s) => encodeURIComponent(String(s))).join("/");
}

/** Announce a message to screen readers through the page's polite live region. */
export function announce(message) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  // A fresh text node after clearing makes repeated identical messages be read again.
  window.setTimeout(() => { live.textContent = message; }, 50);
}

/** Focus the main heading of a freshly rendered screen, so keyboard and screen-reader users land there. */
export function focusHeading(root) {
  const heading = root.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}
