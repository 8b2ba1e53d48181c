// The review queue: suspected duplicates; supervisors accept (merge) or reject (keep apart).

import { request } from "../api.js";
import { Panel, badge, confirmChange, empty, errorBox, evidenceTable, pagination, time } from "../components.js";
import { announce, h, routeHref } from "../dom.js";
import * as format from "../format.js";
import * as session from "../session.js";

const PAGE = 10;
const STATUSES = ["open", "accepted", "rejected", "superseded"];

function reviewsHref(status, offset) {
  const params = new URLSearchParams({ status });
  if (offset) params.set("offset", String(offset));
  return `#/reviews?${params}`;
}

const REVIEW_SIDES = ["This record", "Candidate"];

function reviewEvidence(review, rows = review.evidence?.evidence, caption = `Field comparison for review ${review.review_id}`) {
  return evidenceTable({ caption, rows, sides: REVIEW_SIDES });
}

function decisionOutcome(review) {
  const by = review.decided_by ? ` by ${review.decided_by}` : "";
  return h("p", { class: "outcome" },
    badge(review.status, review.status === "accepted" ? "ok" : review.status === "rejected" ? "neutral" : "warn"),
    ` ${by}`,
    review.decided_at ? [" · ", time(review.decided_at, { withTime: true })] : null,
  );
}

const NAMES = new WeakMap(); // link -> the request that names it

/** A link to a traveller that shows their name once the profile API has told it (the id until then). */
function customerLink(customerId, signal) {
  const link = h("a", { href: routeHref("customers", customerId) }, h("code", { text: customerId }));
  // Kept, so that a confirmation naming the traveller can wait for the name (see `named`).
  NAMES.set(link, request("profile", `/v1/customers/${encodeURIComponent(customerId)}`, { signal })
    .then((customer) => {
      const name = customer?.fields?.display_name?.value;
      if (name) {
        link.replaceChildren(h("span", { text: String(name) }), " ", h("code", { class: "muted", text: customerId }));
        link.dataset.name = String(name);
      }
    })
    .catch(() => {})); // the id alone still identifies the traveller
  return link;
}

/** Waits (a few seconds at most) for the links' names, so a question about them names the travellers. */
function named(...links) {
  const loading = links.map((link) => NAMES.get(link) ?? Promise.resolve());
  return Promise.race([Promise.all(loading), new Promise((resolve) => setTimeout(resolve, 5000))]);
}

/** "Ana Lee (C-123)" once the link knows the name; the id alone before. */
function linkText(link, customerId) {
  return link.dataset.name ? `${link.dataset.name} (${customerId})` : customerId;
}

/** The pair as it compares now (profile `GET /v1/explain`): records may have changed since it was queued. */
function compareNow(review, slot, signal) {
  const button = h("button", { type: "button", class: "button button-quiet", text: "Compare now", "aria-expanded": "false" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const now = await request("profile", "/v1/explain", { params: { customer_a: review.customer_id, customer_b: review.candidate_id }, signal });
      const r = now.result;
      slot.replaceChildren(r
        ? h("div", {},
          h("p", {}, h("strong", { text: `Now: score ${Number(r.score).toFixed(1)}` }), ` · ${format.humanize(r.decision ?? "")}`),
          reviewEvidence(review, r.evidence, `Current comparison for review ${review.review_id}`))
        : empty("Nothing to compare any more."));
      button.setAttribute("aria-expanded", "true");
      announce(r ? `Compared now: score ${Number(r.score).toFixed(1)}.` : "Nothing to compare any more.");
    } catch (error) {
      if (error?.name !== "AbortError") slot.replaceChildren(errorBox(error, { action: "compare travellers" }));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function reviewCard(review, signal) {
  const headingId = `review-${review.review_id}-title`;
  const feedback = h("div", { class: "review-feedback" });
  const footer = h("div", { class: "actions" });
  const comparison = h("div", { class: "comparison" });
  const record = customerLink(review.customer_id, signal);
  const candidate = customerLink(review.candidate_id, signal);
  const card = h("article", { class: "item review", "aria-labelledby": headingId },
    h("h3", { id: headingId },
      `Score ${Number(review.score).toFixed(1)}`,
      h("span", { class: "muted", text: ` · ${review.evidence?.rule ?? "probabilistic"}` }),
    ),
    h("p", {}, record, " may be the same traveller as ", candidate),
    h("p", { class: "muted" }, `Record ${review.source_system}:${review.source_id} · queued `, time(review.created_at, { withTime: true })),
    reviewEvidence(review),
    review.status === "open" ? h("div", { class: "actions" }, compareNow(review, comparison, signal)) : null,
    comparison,
    feedback,
    footer,
  );

  if (review.status !== "open") {
    footer.replaceChildren(decisionOutcome(review));
    return card;
  }
  if (!session.may("decide-review")) {
    footer.replaceChildren(h("p", { class: "muted", text: "Waiting for a supervisor to decide." }));
    return card;
  }
  const accept = h("button", { type: "button", class: "button button-primary", text: "Accept: merge" });
  const reject = h("button", { type: "button", class: "button", text: "Reject: keep apart" });
  const decide = async (decision) => {
    if (decision === "accept") {
      await named(record, candidate);
      const confirmed = await confirmChange({
        title: "Merge these two travellers?",
        body: [
          `${linkText(record, review.customer_id)} and ${linkText(candidate, review.candidate_id)} become one traveller, with the records, bookings and history of both.`,
          "A supervisor can undo the merge from the traveller's History panel.",
        ],
        confirm: "Accept and merge",
      });
      if (!confirmed) return;
    }
    accept.disabled = true;
    reject.disabled = true;
    feedback.replaceChildren();
    card.setAttribute("aria-busy", "true");
    try {
      const decided = await request("profile", `/v1/reviews/${encodeURIComponent(review.review_id)}/decision`, {
        method: "POST",
        body: { decision },
      });
      footer.replaceChildren(decisionOutcome(decided));
      announce(decision === "accept" ? "Review accepted: the travellers were merged." : "Review rejected: the travellers stay apart.");
    } catch (error) {
      feedback.replaceChildren(errorBox(error, { action: "decide suggested duplicates (supervisors only)" }));
      accept.disabled = false;
      reject.disabled = false;
    } finally {
      card.removeAttribute("aria-busy");
    }
  };
  accept.addEventListener("click", () => decide("accept"));
  reject.addEventListener("click", () => decide("reject"));
  footer.replaceChildren(accept, reject);
  return card;
}

export function renderReviews(root, { params, signal, navigate }) {
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "open";
  const offset = Math.max(0, Number.parseInt(params.get("offset") ?? "0", 10) || 0);
  document.title = "Review queue · Itinera console";

  const select = h("select", { id: "review-status", name: "status" },
    STATUSES.map((s) => h("option", { value: s, selected: s === status, text: format.humanize(s) })),
  );
  select.addEventListener("change", () => navigate(reviewsHref(select.value, 0).slice(1)));

  const list = new Panel({ id: "reviews", title: status === "open" ? "Waiting for a decision" : `${format.humanize(status)} reviews`, wide: true });
  root.replaceChildren(
    h("div", { class: "screen" },
      h("h1", { text: "Review queue" }),
      h("p", { class: "lead", text: session.may("decide-review")
        ? "Suspected duplicates, highest score first. Accept merges the two travellers; reject remembers them as different people."
        : "Suspected duplicates, highest score first. A supervisor decides each: accept merges the two travellers, reject keeps them apart." }),
      h("div", { class: "field field-inline" }, h("label", { for: "review-status", text: "Show" }), select),
      list.element,
    ),
  );

  list.load(
    () => request("profile", "/v1/reviews", { params: { status, limit: PAGE, offset }, signal }),
    (page) => {
      const items = page.items ?? [];
      announce(items.length ? `${format.count(items.length, "review")} shown.` : "No reviews.");
      if (!items.length) return empty(status === "open" ? "Nothing to review." : "No reviews.");
      return [
        h("div", { class: "items" }, items.map((review) => reviewCard(review, signal))),
        pagination({ label: "Review pages", offset, limit: PAGE, count: items.length, nextOffset: page.next_offset, href: (o) => reviewsHref(status, o) }),
      ];
    },
  );
}
