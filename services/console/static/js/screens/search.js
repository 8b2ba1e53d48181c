// Search travellers by name, email or phone (profile `GET /v1/customers`), a page at a time.

import { request } from "../api.js";
import { Panel, empty, pagination, table } from "../components.js";
import { announce, h, routeHref } from "../dom.js";
import * as format from "../format.js";

const PAGE = 20;

/** Which search criterion the agent typed: an email, a phone number or (by default) a name. */
export function criteria(text) {
  const q = text.trim();
  if (!q) return {};
  if (q.includes("@")) return { email: q };
  if (/^\+?[\d\s().\/-]{6,}$/.test(q)) return { phone: q };
  return { q };
}

function searchHref(text, offset) {
  const params = new URLSearchParams();
  if (text) params.set("q", text);
  if (offset) params.set("offset", String(offset));
  const query = params.toString();
  return query ? `#/search?${query}` : "#/search";
}

export function renderSearch(root, { params, signal, navigate }) {
  const text = params.get("q") ?? "";
  const offset = Math.max(0, Number.parseInt(params.get("offset") ?? "0", 10) || 0);
  document.title = text ? `“${text}” · Search · Itinera console` : "Search travellers · Itinera console";

  const input = h("input", {
    id: "search-q",
    name: "q",
    type: "search",
    value: text,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "search-hint",
  });
  const form = h(
    "form",
    { class: "search-form", role: "search", "aria-label": "Travellers" },
    h("div", { class: "field field-grow" },
      h("label", { for: "search-q", text: "Name, email or phone" }),
      input,
      h("p", { id: "search-hint", class: "hint", text: "Names match in any order, with or without accents, and forgive typos." }),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button button-primary", text: "Search" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(searchHref(input.value.trim(), 0).slice(1));
  });

  const results = new Panel({ id: "results", title: text ? "Results" : "Recently updated travellers", wide: true });
  root.replaceChildren(
    h("div", { class: "screen" }, h("h1", { text: "Search travellers" }), form, results.element),
  );

  results.load(
    () => request("profile", "/v1/customers", { params: { ...criteria(text), limit: PAGE, offset }, signal }),
    (page) => {
      const items = page.items ?? [];
      announce(items.length ? `${format.count(items.length, "traveller")} shown.` : "No travellers found.");
      if (!items.length) return empty(offset ? "No more travellers." : "No traveller matches. Try part of the name, or the email address.");
      return [
        table({
          caption: "Travellers found",
          columns: [{ label: "Name" }, { label: "Email" }, { label: "Phone" }, { label: "Company" }],
          rowHeaders: true,
          rows: items.map((c) => [
            h("a", { href: routeHref("customers", c.customer_id), text: c.display_name || c.customer_id }),
            c.email ?? "—",
            c.phone ?? "—",
            c.company_name ?? "—",
          ]),
        }),
        pagination({
          label: "Result pages",
          offset,
          limit: PAGE,
          count: items.length,
          nextOffset: page.next_offset,
          href: (o) => searchHref(text, o),
        }),
      ];
    },
  );
}
