// Calls to the four service APIs with the agent's key; errors become ApiError with the problem's detail.

import * as session from "./session.js";

const TIMEOUT_MS = 15000;

let configPromise = null;

/** The console's configuration (`/config.json`): the base URL of each API. */
export function loadConfig() {
  configPromise ??= fetch("/config.json", { headers: { Accept: "application/json" } }).then(async (response) => {
    if (!response.ok) throw new Error(`the console's configuration could not be loaded (HTTP ${response.status})`);
    return response.json();
  });
  return configPromise;
}

/** An API call that failed: HTTP status (0: no answer), the problem's detail, its correlation id. */
export class ApiError extends Error {
  constructor({ service, status, title, detail, correlationId = null, problem = null }) {
    super(detail || title || `HTTP ${status}`);
    this.name = "ApiError";
    this.service = service;
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.correlationId = correlationId;
    this.problem = problem;
  }

  get unauthorized() { return this.status === 401; }
  get forbidden() { return this.status === 403; }
  get notFound() { return this.status === 404; }
}

/** The role named in a 403 problem ("role 'agent' may not do this; ..."), or null. */
export function roleFromProblem(detail) {
  const match = /\brole '([a-z][a-z-]*)'/.exec(detail ?? "");
  return match ? match[1] : null;
}

function withTimeout(signal) {
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  if (!signal) return timeout;
  return typeof AbortSignal.any === "function" ? AbortSignal.any([signal, timeout]) : signal;
}

/**
 * Call an API. `service`: profile|preferences|feedback|notifications; `path`: "/v1/...";
 * options: {method, params, body, signal, key} (`key` overrides the signed-in key, for sign-in).
 * Resolves to the parsed JSON body (null for 204); rejects with ApiError (or AbortError when cancelled).
 */
export async function request(service, path, { method = "GET", params, body, signal, key } = {}) {
  const config = await loadConfig();
  const base = config.apis?.[service];
  if (!base) throw new ApiError({ service, status: 0, detail: `no address configured for the ${service} API` });
  const url = new URL(base + path);
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  const headers = { Accept: "application/json, application/problem+json" };
  const apiKey = key ?? session.key();
  if (apiKey) headers["X-API-Key"] = apiKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";

  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: withTimeout(signal),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    const timedOut = error?.name === "TimeoutError" || error?.name === "AbortError";
    throw new ApiError({
      service,
      status: 0,
      title: "No answer",
      detail: timedOut
        ? `the ${service} service did not answer in time`
        : `the ${service} service could not be reached`,
    });
  }
  const correlationId = response.headers.get("X-Correlation-ID");
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") ?? "";
  const parsed = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.ok) return parsed;
  const error = new ApiError({
    service,
    status: response.status,
    title: parsed?.title ?? response.statusText,
    detail: typeof parsed?.detail === "string" ? parsed.detail : "",
    correlationId: parsed?.correlation_id ?? correlationId,
    problem: parsed,
  });
  if (error.forbidden) {
    const role = roleFromProblem(error.detail);
    if (role) session.learnRole(role);
  }
  throw error;
}

/** What an agent should read for a failed call. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return { headline: "Something went wrong.", detail: String(error?.message ?? error) };
  if (error.unauthorized) {
    return { headline: "Your API key was not accepted.", detail: "Sign in again with a valid key.", signIn: true };
  }
  if (error.forbidden) return { headline: "Your role may not see this.", detail: error.detail };
  if (error.status === 0) return { headline: "No answer from the service.", detail: error.detail };
  return { headline: `${error.title || "Error"} (${error.status})`, detail: error.detail };
}
