// The ops and supervisor dashboard: tier distribution and movement, NPS/CSAT by tier, company and
// month, SLA breaches, and the churn watch list. Charts use Chart.js (vendored, see the console
// README), loaded on this page only; every chart has its figures in a table beside it.

import { request } from "../api.js";
import { Panel, badge, empty, table } from "../components.js";
import { h, routeHref } from "../dom.js";
import * as format from "../format.js";

const TIER_ORDER = ["gold", "silver", "regular"];
const COLORS = { gold: "#b8860b", silver: "#7d8a96", regular: "#0b5cad", up: "#2e7d32", down: "#c62828", nps: "#0b5cad", csat: "#6a1b9a" };
let chartLibrary = null;

/** Chart.js, loaded once from the console's own origin (the Content-Security-Policy allows only 'self'). */
function loadCharts() {
  chartLibrary ??= new Promise((resolve, reject) => {
    if (window.Chart) { resolve(window.Chart); return; }
    const script = document.createElement("script");
    script.src = "/static/vendor/chart.umd.min.js";
    script.addEventListener("load", () => resolve(window.Chart));
    script.addEventListener("error", () => { chartLibrary = null; reject(new Error("the chart library could not be loaded")); });
    document.head.append(script);
  });
  return chartLibrary;
}

function chart(id, label, config) {
  const canvas = h("canvas", { id, role: "img", "aria-label": label, height: "220" });
  const box = h("div", { class: "chart" }, canvas);
  loadCharts().then((Chart) => {
    // Animations off: the figures are the point, and tests read the chart at once.
    new Chart(canvas, { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false, ...config.options } });
    canvas.dataset.rendered = "true";
  }).catch((error) => box.replaceChildren(h("p", { class: "notice", text: String(error.message) })));
  return box;
}

function since(days) {
  return new Date(Date.now() - days * 86400e3).toISOString();
}

function distribution(d) {
  const stages = [...new Set(Object.values(d.customers).flatMap((s) => Object.keys(s)))].sort();
  const tiers = TIER_ORDER.filter((t) => d.customers[t]);
  const total = (t) => Object.values(d.customers[t] ?? {}).reduce((a, b) => a + b, 0);
  return [
    chart("chart-distribution", "Travellers per tier and stage", {
      type: "bar",
      data: { labels: tiers, datasets: stages.map((s, i) => ({ label: format.humanize(s), data: tiers.map((t) => d.customers[t]?.[s] ?? 0), backgroundColor: `hsl(${(i * 67) % 360} 55% 50%)` })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    }),
    table({
      caption: "Travellers and companies per tier",
      columns: [{ label: "Tier" }, { label: "Travellers" }, { label: "Companies" }],
      rowHeaders: true,
      rows: TIER_ORDER.map((t) => [t, String(total(t)), String(Object.values(d.companies[t] ?? {}).reduce((a, b) => a + b, 0))]),
    }),
  ];
}

function movement(m) {
  if (!m.movements.length) return empty("No tier changes in the last 180 days.");
  return [
    chart("chart-movement", "Tier moves up and down per month", {
      type: "bar",
      data: { labels: m.by_month.map((r) => r.month), datasets: [
        { label: "Up", data: m.by_month.map((r) => r.up), backgroundColor: COLORS.up },
        { label: "Down", data: m.by_month.map((r) => -r.down), backgroundColor: COLORS.down },
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } },
    }),
    table({
      caption: "Tier moves in the last 180 days",
      columns: [{ label: "From" }, { label: "To" }, { label: "Travellers" }],
      rows: m.movements.map((r) => [r.from_tier ?? "(first tier)", r.to_tier, String(r.count)]),
    }),
  ];
}

function scoreTable(caption, groups, keyLabel, link) {
  return table({
    caption,
    columns: [{ label: keyLabel }, { label: "Answers" }, { label: "NPS" }, { label: "CSAT" }],
    rowHeaders: true,
    rows: groups.map((g) => [
      link ? link(g) : g.key || "—",
      String(Math.max(g.nps.responses, g.csat.responses)),
      g.nps.score === null ? "—" : String(g.nps.score),
      g.csat.average === null ? "—" : Number(g.csat.average).toFixed(2),
    ]),
  });
}

function scoresByTier(b) {
  const groups = TIER_ORDER.map((t) => b.groups.find((g) => g.key === t)).filter(Boolean);
  if (!groups.length) return empty("No answers in the last 90 days.");
  return [
    chart("chart-nps-tier", "NPS per tier", {
      type: "bar",
      data: { labels: groups.map((g) => g.key), datasets: [{ label: "NPS", data: groups.map((g) => g.nps.score), backgroundColor: groups.map((g) => COLORS[g.key]) }] },
      options: { scales: { y: { min: -100, max: 100 } } },
    }),
    scoreTable("NPS and CSAT per tier", groups, "Tier"),
  ];
}

function scoresByMonth(b) {
  if (!b.groups.length) return empty("No answers in the last year.");
  return [
    chart("chart-scores-month", "NPS and CSAT per month", {
      type: "line",
      data: { labels: b.groups.map((g) => g.key), datasets: [
        { label: "NPS", data: b.groups.map((g) => g.nps.score), borderColor: COLORS.nps, yAxisID: "y" },
        { label: "CSAT", data: b.groups.map((g) => g.csat.average), borderColor: COLORS.csat, yAxisID: "y1" },
      ] },
      options: { scales: { y: { min: -100, max: 100 }, y1: { min: 1, max: 5, position: "right" } } },
    }),
    scoreTable("NPS and CSAT per month", b.groups, "Month"),
  ];
}

function scoresByCompany(b) {
  if (!b.groups.length) return empty("No answers in the last 90 days.");
  return scoreTable("NPS and CSAT per company", b.groups, "Company",
    (g) => (g.key ? h("a", { href: routeHref("companies", g.key), text: g.label ?? g.key }) : "no company"));
}

function breaches(b) {
  if (!b.by_tier.length) return empty("No cases opened in the last 90 days.");
  const rows = (groups, link) => groups.map((g) => [link(g), String(g.cases), String(g.breached), String(g.first_response), String(g.resolution), String(g.overdue_now)]);
  const columns = (first) => [{ label: first }, { label: "Cases" }, { label: "Breached" }, { label: "First response late" }, { label: "Resolution late" }, { label: "Overdue now" }];
  return [
    chart("chart-breaches", "SLA breaches per tier", {
      type: "bar",
      data: { labels: b.by_tier.map((g) => g.key), datasets: [
        { label: "Kept", data: b.by_tier.map((g) => g.cases - g.breached), backgroundColor: COLORS.up },
        { label: "Breached", data: b.by_tier.map((g) => g.breached), backgroundColor: COLORS.down },
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    }),
    table({ caption: "SLA breaches per tier", columns: columns("Tier"), rowHeaders: true, rows: rows(b.by_tier, (g) => g.key) }),
    table({
      caption: "SLA breaches per company", columns: columns("Company"), rowHeaders: true,
      rows: rows(b.by_company, (g) => (g.key ? h("a", { href: routeHref("companies", g.key), text: g.label ?? g.key }) : "no company")),
    }),
  ];
}

function watchList([companies, travellers]) {
  const items = [
    ...(companies?.items ?? []).map((c) => ({ link: h("a", { href: routeHref("companies", c.company_id), text: c.company_name ?? c.company_id }), kind: "company", v: c })),
    ...(travellers?.items ?? []).map((t) => ({ link: h("a", { href: routeHref("customers", t.customer_id), text: t.customer_id }), kind: "traveller", v: t })),
  ];
  if (!items.length) return empty("Nobody is drifting away.");
  return table({
    caption: "Churn watch list",
    columns: [{ label: "Account" }, { label: "Kind" }, { label: "Tier" }, { label: "Stage" }, { label: "Why" }],
    rowHeaders: true,
    rows: items.map(({ link, kind, v }) => [link, kind, v.tier_label ?? v.tier, badge(format.humanize(v.churn.stage), "warn"), v.churn.reason]),
  });
}

export function renderDashboard(root, { signal }) {
  document.title = "Dashboard · Itinera console";
  const panels = {
    distribution: new Panel({ id: "dash-distribution", title: "Tier distribution" }),
    movement: new Panel({ id: "dash-movement", title: "Tier movement" }),
    tier: new Panel({ id: "dash-scores-tier", title: "NPS and CSAT by tier", note: "Answers of the last 90 days, by the traveller's tier today." }),
    month: new Panel({ id: "dash-scores-month", title: "NPS and CSAT by month", note: "The last 12 months." }),
    company: new Panel({ id: "dash-scores-company", title: "NPS and CSAT by company", wide: true, note: "The last 90 days." }),
    breaches: new Panel({ id: "dash-breaches", title: "SLA breaches", wide: true, note: "Cases opened in the last 90 days." }),
    watch: new Panel({ id: "dash-watch", title: "Churn watch list", wide: true, note: "At-risk and lapsed companies and travellers, most valuable first." }),
  };
  root.replaceChildren(h("div", { class: "screen" }, h("h1", { text: "Dashboard" }),
    h("div", { class: "panels" }, Object.values(panels).map((p) => p.element))));
  panels.distribution.show(() => request("value", "/v1/distribution", { signal }), distribution);
  panels.movement.show(() => request("value", "/v1/tier-movements", { signal }), movement);
  panels.tier.show(() => request("feedback", "/v1/scores/breakdown", { params: { by: "tier", from: since(90) }, signal }), scoresByTier);
  panels.month.show(() => request("feedback", "/v1/scores/breakdown", { params: { by: "month", from: since(365) }, signal }), scoresByMonth);
  panels.company.show(() => request("feedback", "/v1/scores/breakdown", { params: { by: "company", from: since(90) }, signal }), scoresByCompany);
  panels.breaches.show(() => request("feedback", "/v1/sla/breaches", { params: { from: since(90) }, signal }), breaches);
  panels.watch.show(() => Promise.all([
    request("value", "/v1/companies", { params: { at_risk: "true", limit: 20 }, signal }),
    // Travellers are personal data: a role that may not read them sees the companies alone.
    request("value", "/v1/customers", { params: { at_risk: "true", limit: 20 }, signal }).catch((e) => (e?.forbidden ? null : Promise.reject(e))),
  ]), watchList);
}
