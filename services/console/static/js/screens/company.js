// The company page: the account (profile), its value and travellers (value), and what to do next.

import { request } from "../api.js";
import { Panel, badge, empty, facts, table, time } from "../components.js";
import { h, routeHref } from "../dom.js";
import * as format from "../format.js";
import * as session from "../session.js";
import { renderNextActions } from "./next-actions.js";

function account(company) {
  return facts([
    ["Name", company.name],
    ["Travellers", String(company.customer_count)],
    ["Email domains", company.domains.join(", ") || "—"],
    ["Also known as", company.aliases.join(", ") || "—"],
  ]);
}

function value(data) {
  const v = data.value;
  return [
    facts([
      ["Tier", [badge(v.tier_label ?? v.tier, v.tier === "gold" ? "warn" : "neutral"), v.tier_since ? [" since ", time(v.tier_since)] : null]],
      ["Stage", format.humanize(v.churn.stage)],
      ["Churn risk", `${v.churn.risk} — ${v.churn.reason}`],
      ["Trips in window", String(v.rfm.frequency)],
      ["Spend in window", format.money(v.rfm.monetary, v.rfm.currency)],
      ["Account manager", v.account_manager ? `${v.account_manager.kind}: ${v.account_manager.id}` : "none"],
    ]),
    data.history?.length
      ? h("ul", { class: "plain" }, data.history.slice(0, 5).map((c) => h("li", {}, time(c.changed_at), ` ${c.reason}`)))
      : null,
  ];
}

function travellers(data) {
  const items = data.travellers ?? [];
  if (!items.length) return empty("No travellers with trips in the window.");
  return table({
    caption: "Travellers of this company",
    columns: [{ label: "Traveller" }, { label: "Tier" }, { label: "Stage" }, { label: "Trips" }, { label: "Spend" }],
    rows: items.map((t) => [
      h("a", { href: routeHref("customers", t.customer_id), class: "queue-link", text: t.customer_id }),
      t.tier_label ?? t.tier,
      format.humanize(t.churn.stage),
      String(t.rfm.frequency),
      format.money(t.rfm.monetary, t.rfm.currency),
    ]),
  });
}

function scores(s) {
  return facts([
    ["Answers (90 days)", String(s.nps.responses)],
    ["NPS", s.nps.score === null ? "—" : String(s.nps.score)],
    ["CSAT average", s.csat.average === null ? "—" : Number(s.csat.average).toFixed(2)],
  ]);
}

export function renderCompany(root, { match, signal }) {
  const companyId = decodeURIComponent(match[1]);
  const id = encodeURIComponent(companyId);
  const heading = h("h1", { text: "Company" });
  document.title = "Company · Itinera console";
  const panels = {
    actions: new Panel({ id: "company-next-actions", title: "Next best actions", wide: true, note: "Suggested from each service's data, with the reason." }),
    account: new Panel({ id: "company-account", title: "Account" }),
    value: new Panel({ id: "company-value", title: "Value" }),
    travellers: new Panel({ id: "company-travellers", title: "Travellers", wide: true }),
  };
  if (session.may("read-scores")) panels.scores = new Panel({ id: "company-scores", title: "Scores" });
  root.replaceChildren(h("div", { class: "screen" },
    h("p", { class: "breadcrumb" }, h("a", { href: "#/queues", text: "← Queues" })),
    heading, h("p", { class: "subtitle" }, h("code", { text: companyId })),
    h("div", { class: "panels" }, Object.values(panels).map((p) => p.element)),
  ));
  panels.account.show(() => request("profile", `/v1/companies/${id}`, { signal }), (c) => {
    heading.textContent = c.name;
    document.title = `${c.name} · Itinera console`;
    return account(c);
  });
  const valued = request("value", `/v1/companies/${id}/value`, { signal });
  valued.catch(() => {});
  panels.value.show(() => valued, value);
  panels.travellers.show(() => valued, (data) => {
    const content = travellers(data);
    for (const link of content.querySelectorAll?.("a.queue-link") ?? []) {
      request("profile", `/v1/customers/${encodeURIComponent(link.textContent)}`, { signal })
        .then((c) => { if (c?.fields?.display_name?.value) link.textContent = String(c.fields.display_name.value); })
        .catch(() => {});
    }
    return content;
  });
  panels.scores?.show(() => request("feedback", "/v1/scores", {
    params: { company_id: companyId, from: new Date(Date.now() - 90 * 86400e3).toISOString() }, signal,
  }), scores);
  renderNextActions(panels.actions, { subject: "company", id: companyId, services: ["feedback", "profile", "value"], signal });
}
