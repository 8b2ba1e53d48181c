// The signed-in agent: the API key lives in sessionStorage only (gone when the tab closes), never in logs or URLs.

const KEY = "itinera.console.apiKey";
const ROLE = "itinera.console.role";
const NAME = "itinera.console.name";
const listeners = new Set();
const memory = {}; // fallback when sessionStorage is unavailable

function read(name) {
  try {
    return window.sessionStorage.getItem(name);
  } catch {
    return null;
  }
}

function write(name, value) {
  try {
    if (value === null) window.sessionStorage.removeItem(name);
    else window.sessionStorage.setItem(name, value);
  } catch {
    // Storage disabled: the key is then kept for this page only.
    memory[name] = value;
  }
}

export function key() {
  return read(KEY) ?? memory[KEY] ?? null;
}

/** The principal's role, when an API revealed it; "agent access" when only known to pass agent checks. */
export function role() {
  return read(ROLE) ?? memory[ROLE] ?? null;
}

/** The principal's name (from whoami), e.g. to assign a case to oneself. */
export function name() {
  return read(NAME) ?? memory[NAME] ?? null;
}

/** Whether the known role can act as a supervisor (the services still check every call). */
export function isSupervisor() {
  return role() === "supervisor" || role() === "admin";
}

export function signedIn() {
  return Boolean(key());
}

export function signIn(apiKey, knownRole, knownName = null) {
  write(KEY, apiKey);
  write(ROLE, knownRole ?? null);
  write(NAME, knownName ?? null);
  notify();
}

export function signOut() {
  write(KEY, null);
  write(ROLE, null);
  write(NAME, null);
  delete memory[KEY];
  delete memory[ROLE];
  delete memory[NAME];
  notify();
}

/** Remember a role an API named (e.g. in a 403 problem detail). */
export function learnRole(name) {
  if (!signedIn() || role() === name) return;
  write(ROLE, name);
  notify();
}

export function onChange(listener) {
  listeners.add(listener);
}

function notify() {
  for (const listener of listeners) listener();
}
