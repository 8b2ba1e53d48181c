// The console's entry point: hash routes, the session bar, and one screen at a time.

import { loadConfig } from "./api.js";
import { errorBox } from "./components.js";
import { focusHeading, h } from "./dom.js";
import * as session from "./session.js";
import { renderCompany } from "./screens/company.js";
import { renderCustomer } from "./screens/customer.js";
import { renderDashboard } from "./screens/dashboard.js";
import { renderQueues } from "./screens/queues.js";
import { renderReviews } from "./screens/reviews.js";
import { renderSearch } from "./screens/search.js";
import { renderTrip } from "./screens/trips.js";
import { checkKey, renderSignIn } from "./screens/signin.js";

const ROUTES = [
  { pattern: /^\/signin$/, render: renderSignIn, nav: null, open: true },
  { pattern: /^\/search$/, render: renderSearch, nav: "search" },
  { pattern: /^\/customers\/([^/]+)$/, render: renderCustomer, nav: "search" },
  { pattern: /^\/reviews$/, render: renderReviews, nav: "reviews" },
  { pattern: /^\/queues$/, render: renderQueues, nav: "queues" },
  { pattern: /^\/companies\/([^/]+)$/, render: renderCompany, nav: "queues" },
  { pattern: /^\/trips\/([^/]+)$/, render: renderTrip, nav: "search" },
  { pattern: /^\/dashboard$/, render: renderDashboard, nav: "dashboard" },
];

const main = document.getElementById("main");
let current = null; // AbortController of the screen on show: navigating away cancels its requests

function currentRoute() {
  const raw = window.location.hash.replace(/^#/, "") || "/search";
  const [path, query = ""] = raw.split("?", 2);
  return { raw, path, params: new URLSearchParams(query) };
}

function navigate(path) {
  const target = `#${path}`;
  if (window.location.hash === target) render();
  else window.location.hash = target;
}

function updateSessionBar() {
  const signedIn = session.signedIn();
  document.getElementById("topnav").hidden = !signedIn;
  document.getElementById("session").hidden = !signedIn;
  const role = session.role();
  // The dashboard is for ops and supervisors (the services refuse its figures to agents).
  document.querySelector('[data-nav="dashboard"]').hidden = !session.may("view-dashboard");
  document.getElementById("session-role").textContent = role ? `Signed in · role: ${role}` : "Signed in · agent access";
}

function markNav(name) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function render() {
  current?.abort();
  current = new AbortController();
  const { raw, path, params } = currentRoute();
  const route = ROUTES.find((r) => r.pattern.test(path));
  if (!route) {
    navigate("/search");
    return;
  }
  if (!route.open && !session.signedIn()) {
    window.location.replace(`#/signin?next=${encodeURIComponent(raw)}`);
    return;
  }
  markNav(route.nav);
  updateSessionBar();
  try {
    route.render(main, { params, match: route.pattern.exec(path), signal: current.signal, navigate });
  } catch (error) {
    main.replaceChildren(h("div", { class: "screen" }, h("h1", { text: "Something went wrong" }), errorBox(error)));
  }
  focusHeading(main);
}

async function start() {
  // The skip link must not change the hash: that is where the routes live.
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    session.signOut();
    navigate("/signin");
  });
  session.onChange(updateSessionBar);
  window.addEventListener("hashchange", render);
  try {
    const config = await loadConfig();
    session.setPermissions(config.permissions);
  } catch (error) {
    main.replaceChildren(h("div", { class: "screen" }, h("h1", { text: "The console could not start" }), errorBox(error)));
    return;
  }
  if (session.signedIn()) {
    // A reload: ask again what the key may do, so the page offers what its role allows today.
    try {
      const me = await checkKey(session.key());
      session.remember(me.role, me.name, me.actsAs);
    } catch {
      // The screens show the API's answer (a withdrawn key, a service that is down) in their panels.
    }
  }
  render();
}

start();
