// The signed-in agent: the API key lives in sessionStorage only (gone when the tab closes), never in logs or URLs.

const KEY = "itinera.console.apiKey";
const ROLE = "itinera.console.role";
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

export function signedIn() {
  return Boolean(key());
}

export function signIn(apiKey, knownRole) {
  write(KEY, apiKey);
  write(ROLE, knownRole ?? null);
  notify();
}

export function signOut() {
  write(KEY, null);
  write(ROLE, null);
  delete memory[KEY];
  delete memory[ROLE];
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
