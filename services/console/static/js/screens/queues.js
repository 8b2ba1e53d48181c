// Work queues: seven lists of work, each filterable by tier and company, each row one click from
// the traveller or company page. Every queue asks the service that owns its data.

import { request } from "../api.js";
import { Panel, badge, control, empty, pagination, select, table, time } from "../components.js";
import { h, routeHref } from "../dom.js";
import * as format from "../format.js";

const PAGE = 25;
const TIERS = [["", "Any tier"], ["gold", "Gold"], ["silver", "Silver"], ["regular", "Regular"]];

function travellerLink(id, name) {
  return h("a", { href: routeHref("customers", id), class: "queue-link" }, name || id);
}

function companyLink(id, name) {
  return id ? h("a", { href: routeHref("companies", id) }, name || id) : "—";
}

function tierBadge(tier) {
  return badge(tier ?? "—", tier === "gold" ? "warn" : tier === "silver" ? "neutral" : "neutral");
}

function cases(queue) {
  return {
    service: "feedback",
    path: "/v1/queues/cases",
    params: { queue },
    render: (page) => table({
      caption: "Cases",
      columns: [{ label: "Traveller" }, { label: "Subject" }, { label: "Status" }, { label: "Priority" }, { label: "Assignee" },
        { label: "Due" }, { label: "Tier" }, { label: "Company" }],
      rows: page.items.map((c) => [
        travellerLink(c.current_customer_id, c.customer_name),
        c.subject,
        [badge(format.humanize(c.status)), c.escalated ? [" ", badge("escalated", "warn")] : null,
          c.breaches.length ? [" ", badge("late", "bad")] : null],
        c.priority,
        c.assignee ?? "—",
        time(c.first_response_at ? c.resolution_due : c.first_response_due, { withTime: true }),
        tierBadge(c.tier),
        companyLink(c.company_id, c.company_name),
      ]),
    }),
  };
}

const QUEUES = {
  mine: { label: "My cases", ...cases("mine") },
  unassigned: { label: "Unassigned", ...cases("unassigned") },
  late: { label: "Overdue or escalated", ...cases("late") },
  "low-scores": {
    label: "Low scores to follow up",
    service: "feedback",
    path: "/v1/queues/low-scores",
    render: (page) => table({
      caption: "Low scores",
      columns: [{ label: "Traveller" }, { label: "Answered" }, { label: "CSAT" }, { label: "NPS" }, { label: "Comment" },
        { label: "Case" }, { label: "Tier" }, { label: "Company" }],
      rows: page.items.map((s) => [
        travellerLink(s.current_customer_id, s.customer_name),
        time(s.answered_at),
        s.csat === null ? "—" : `${s.csat} / 5`,
        s.nps === null ? "—" : `${s.nps} / 10`,
        s.comment || "—",
        s.case_id ? format.humanize(s.case_status ?? "") : "none",
        tierBadge(s.tier),
        companyLink(s.company_id, s.company_name),
      ]),
    }),
  },
  duplicates: {
    label: "Suspected duplicates",
    service: "profile",
    path: "/v1/queues/reviews",
    render: (page) => table({
      caption: "Suspected duplicates",
      columns: [{ label: "Traveller" }, { label: "May be" }, { label: "Score" }, { label: "Tier" }, { label: "Company" }, { label: "Since" }],
      rows: page.items.map((r) => [
        travellerLink(r.customer_id, r.customer_name),
        travellerLink(r.candidate_id, r.candidate_name),
        Number(r.score).toFixed(2),
        tierBadge(r.tier),
        companyLink(r.company_id, r.company_name),
        time(r.created_at),
      ]),
    }),
  },
  quality: {
    label: "Data quality",
    service: "profile",
    path: "/v1/queues/quality-tasks",
    render: (page) => table({
      caption: "Data-quality tasks",
      columns: [{ label: "Traveller" }, { label: "Task" }, { label: "Detail" }, { label: "Tier" }, { label: "Company" },
        { label: "Account manager" }, { label: "Since" }],
      rows: page.items.map((t) => [
        travellerLink(t.customer_id, t.customer_name),
        format.humanize(t.kind),
        t.detail?.field ? format.fieldLabel(t.detail.field) : (t.detail?.values ?? []).join(", ") || "—",
        tierBadge(t.tier),
        companyLink(t.company_id, t.company_name),
        t.account_manager ?? "—",
        time(t.created_at),
      ]),
    }),
  },
  "at-risk": {
    label: "At-risk accounts",
    service: "value",
    path: "/v1/customers",
    params: { at_risk: "true" },
    // The value service answers the page without a total: a full page may have more after it.
    total: (page) => page.items.length,
    render: (page) => table({
      caption: "At-risk travellers",
      columns: [{ label: "Traveller" }, { label: "Stage" }, { label: "Risk" }, { label: "Why" }, { label: "Tier" }, { label: "Company" }, { label: "Account manager" }],
      rows: page.items.map((v) => [
        travellerLink(v.customer_id, null),
        badge(format.humanize(v.churn.stage), "warn"),
        v.churn.risk,
        v.churn.reason,
        tierBadge(v.tier),
        companyLink(v.company_id, null),
        v.account_manager ? v.account_manager.id : "—",
      ]),
    }),
  },
};

function queuesHref(params) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined && v !== 0));
  return `#/queues?${query}`;
}

/** Traveller names for the value queue (value keeps ids only): one profile call per row, the id until it answers. */
function nameTravellers(container, signal) {
  for (const link of container.querySelectorAll("a.queue-link")) {
    const id = decodeURIComponent(link.getAttribute("href").split("/").pop());
    if (link.textContent !== id) continue;
    request("profile", `/v1/customers/${encodeURIComponent(id)}`, { signal })
      .then((c) => { if (c?.fields?.display_name?.value) link.textContent = String(c.fields.display_name.value); })
      .catch(() => {});
  }
}

export function renderQueues(root, { params, signal }) {
  const name = QUEUES[params.get("queue")] ? params.get("queue") : "mine";
  const tier = params.get("tier") ?? "";
  const company = params.get("company_id") ?? "";
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  document.title = "Queues · Itinera console";

  const counts = {};
  const tabs = h("nav", { class: "tabs", "aria-label": "Queues" },
    Object.entries(QUEUES).map(([key, q]) => {
      counts[key] = h("span", { class: "count", "data-queue-count": key, text: "…" });
      return h("a", {
        href: queuesHref({ queue: key, tier, company_id: company }),
        "aria-current": key === name ? "page" : null,
        "data-queue": key,
      }, q.label, " ", counts[key]);
    }),
  );
  const tierSelect = select("tier", TIERS, tier);
  const companySelect = select("company_id", [["", "Any company"]], company);
  const form = h("form", { class: "filters", "aria-label": "Filter the queues" },
    control({ id: "queue-tier", label: "Tier", input: tierSelect }),
    control({ id: "queue-company", label: "Company", input: companySelect }),
  );
  const apply = () => { window.location.hash = queuesHref({ queue: name, tier: tierSelect.value, company_id: companySelect.value }); };
  tierSelect.addEventListener("change", apply);
  companySelect.addEventListener("change", apply);
  form.addEventListener("submit", (e) => { e.preventDefault(); apply(); });

  const panel = new Panel({ id: "queue", title: QUEUES[name].label, wide: true });
  root.replaceChildren(h("div", { class: "screen" }, h("h1", { text: "Work queues" }), tabs, form, panel.element));

  // Companies for the filter, by name (from value: companies with trips), keeping a chosen one listed.
  request("value", "/v1/companies", { params: { limit: 200 }, signal }).then((page) => {
    const items = (page.items ?? []).slice().sort((a, b) => String(a.company_name ?? a.company_id).localeCompare(String(b.company_name ?? b.company_id)));
    const options = [["", "Any company"], ...items.map((c) => [c.company_id, c.company_name ?? c.company_id])];
    if (company && !items.some((c) => c.company_id === company)) options.push([company, company]);
    companySelect.replaceChildren(...options.map(([v, label]) => h("option", { value: v, selected: v === company, text: label })));
  }).catch(() => {
    if (company) companySelect.append(h("option", { value: company, selected: true, text: company }));
  });

  const filters = { tier, company_id: company };
  for (const [key, q] of Object.entries(QUEUES)) {
    request(q.service, q.path, { params: { ...q.params, ...filters, limit: key === "at-risk" ? 200 : 1 }, signal })
      .then((page) => {
        const n = q.total ? q.total(page) : page.total;
        counts[key].textContent = key === "at-risk" && n >= 200 ? "200+" : String(n);
      })
      .catch(() => { counts[key].textContent = "?"; });
  }
  const q = QUEUES[name];
  panel.show(
    () => request(q.service, q.path, { params: { ...q.params, ...filters, limit: PAGE, offset }, signal }),
    (page) => {
      if (!page.items.length) return empty("Nothing in this queue.");
      const content = h("div", {}, q.render(page), pagination({
        label: `${q.label} pages`, offset, limit: PAGE, count: page.items.length,
        nextOffset: page.next_offset ?? (q.total && page.items.length === PAGE ? offset + PAGE : null),
        href: (o) => queuesHref({ queue: name, tier, company_id: company, offset: o }),
      }));
      if (name === "at-risk") nameTravellers(content, signal);
      return content;
    },
  );
}
