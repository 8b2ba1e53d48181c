// Sign-in: the agent types an API key; it is checked against the profile API and kept in this tab only.

import { ApiError, request } from "../api.js";
import { errorBox } from "../components.js";
import { announce, h } from "../dom.js";
import * as session from "../session.js";

/** Check a key with the API's whoami; resolves to its holder's name, role and the roles it acts in. */
export async function checkKey(apiKey) {
  const me = await request("profile", "/v1/whoami", { key: apiKey });
  return {
    accepted: true,
    role: me && typeof me.role === "string" ? me.role : null,
    name: me && typeof me.name === "string" ? me.name : null,
    actsAs: Array.isArray(me?.acts_as) ? me.acts_as.filter((r) => typeof r === "string") : null,
  };
}

export function renderSignIn(root, { params, navigate }) {
  document.title = "Sign in · Itinera console";
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
    required: true,
    "aria-describedby": "api-key-hint",
  });
  const feedback = h("div", { id: "signin-feedback" });
  const button = h("button", { type: "submit", class: "button button-primary", text: "Sign in" });

  const form = h(
    "form",
    { class: "card signin", novalidate: true, "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", text: "Sign in" }),
    h("div", { class: "field" },
      h("label", { for: "api-key", text: "API key" }),
      input,
      h("p", { id: "api-key-hint", class: "hint", text: "Your Itinera API key. It stays in this browser tab and is sent only to the Itinera APIs." }),
    ),
    feedback,
    h("div", { class: "actions" }, button),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const apiKey = input.value.trim();
    feedback.replaceChildren();
    input.removeAttribute("aria-invalid");
    if (!apiKey) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "api-key-hint signin-feedback");
      feedback.replaceChildren(h("div", { class: "error", role: "alert" }, h("p", { class: "error-headline", text: "Enter your API key." })));
      input.focus();
      return;
    }
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const { role, name, actsAs } = await checkKey(apiKey);
      input.value = "";
      session.signIn(apiKey, role, name, actsAs);
      announce(role ? `Signed in with role ${role}.` : "Signed in.");
      const next = params.get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("/signin") ? next : "/search");
    } catch (error) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "api-key-hint signin-feedback");
      if (error instanceof ApiError && error.unauthorized) {
        feedback.replaceChildren(
          h("div", { class: "error", role: "alert" },
            h("p", { class: "error-headline", text: "That API key was not accepted." }),
            h("p", { class: "error-detail", text: "Check the key and try again." }),
          ),
        );
      } else {
        feedback.replaceChildren(errorBox(error));
      }
      input.focus();
      input.select();
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  root.replaceChildren(h("div", { class: "signin-wrap" }, form));
}
