// Next best actions: each service suggests what to do from its own data, with the reason and facts.
// The panel asks every service at once and shows what each answered; one that fails is named, the
// others still show.

import { request } from "../api.js";
import { badge, empty } from "../components.js";
import { h, routeHref } from "../dom.js";
import * as format from "../format.js";

const RANK = { high: 0, normal: 1, low: 2 };

function factList(facts) {
  const shown = Object.entries(facts ?? {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  if (!shown.length) return null;
  return h("details", { class: "action-facts" },
    h("summary", { text: "Facts" }),
    h("dl", { class: "facts" }, shown.map(([k, v]) => h("div", {}, h("dt", { text: format.humanize(k) }),
      h("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) })))),
  );
}

function actionItem(a, { showTraveller }) {
  return h("li", { class: "next-action", "data-kind": a.kind },
    h("p", {}, badge(a.priority, a.priority === "high" ? "bad" : a.priority === "normal" ? "warn" : "neutral"), " ",
      h("strong", { text: a.title }), " ", h("span", { class: "muted", text: `· ${a.service}` })),
    h("p", { class: "action-reason", text: a.reason }),
    showTraveller && a.customer_id ? h("p", {}, h("a", { href: routeHref("customers", a.customer_id), text: "Open the traveller" })) : null,
    factList(a.facts),
  );
}

/** Load the next actions of a customer or company into `panel` from `services`. */
export function renderNextActions(panel, { subject, id, services, signal }) {
  const path = `/v1/${subject === "customer" ? "customers" : "companies"}/${encodeURIComponent(id)}/next-actions`;
  panel.show(
    async () => {
      const answers = await Promise.allSettled(services.map((s) => request(s, path, { signal })));
      return answers.map((a, i) => ({ service: services[i], answer: a }));
    },
    (answers) => {
      const items = [];
      const failed = [];
      for (const { service, answer } of answers) {
        if (answer.status === "fulfilled") items.push(...(answer.value?.items ?? []));
        else if (!answer.reason?.notFound) failed.push(`${service}: ${answer.reason?.message ?? answer.reason}`);
      }
      items.sort((a, b) => RANK[a.priority] - RANK[b.priority]);
      return [
        items.length
          ? h("ol", { class: "next-actions" }, items.map((a) => actionItem(a, { showTraveller: subject === "company" })))
          : empty("Nothing to suggest right now."),
        failed.length ? h("p", { class: "notice", text: `Not every service answered — ${failed.join("; ")}` }) : null,
      ];
    },
  );
}
