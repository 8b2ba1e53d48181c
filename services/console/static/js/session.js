// The signed-in agent: the API key lives in sessionStorage only (gone when the tab closes), never in logs or URLs.

const KEY = "itinera.console.apiKey";
const ROLE = "itinera.console.role";
const NAME = "itinera.console.name";
const ACTS = "itinera.console.actsAs";
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

/** The roles the principal may act in (whoami's `acts_as`: an admin acts as every role), or null. */
export function actsAs() {
  try {
    const roles = JSON.parse(read(ACTS) ?? memory[ACTS] ?? "null");
    return Array.isArray(roles) ? roles : null;
  } catch {
    return null;
  }
}

let permissions = {}; // action name -> roles that may take it (the console's /config.json)

/** The table of actions beyond an agent's, from the console's configuration. */
export function setPermissions(table) {
  permissions = table && typeof table === "object" ? table : {};
}

/**
 * Whether the signed-in principal may take `action` (a name of the permission table, e.g. "merge"),
 * so the page offers only what the services would allow. Actions not in the table need only the
 * agent role, which every screen that offers them has already shown it has. The services still
 * check every call.
 */
export function may(action) {
  const roles = permissions[action];
  if (!roles) return true;
  const mine = actsAs() ?? (role() ? [role()] : []);
  return roles.some((r) => mine.includes(r));
}

export function signedIn() {
  return Boolean(key());
}

export function signIn(apiKey, knownRole, knownName = null, knownActsAs = null) {
  write(KEY, apiKey);
  remember(knownRole, knownName, knownActsAs);
}

/** What whoami told about the signed-in key (its role may have changed since sign-in). */
export function remember(knownRole, knownName = null, knownActsAs = null) {
  write(ROLE, knownRole ?? null);
  write(NAME, knownName ?? null);
  write(ACTS, Array.isArray(knownActsAs) ? JSON.stringify(knownActsAs) : null);
  notify();
}

export function signOut() {
  write(KEY, null);
  write(ROLE, null);
  write(NAME, null);
  write(ACTS, null);
  delete memory[KEY];
  delete memory[ROLE];
  delete memory[NAME];
  delete memory[ACTS];
  notify();
}

/** Remember a role an API named (e.g. in a 403 problem detail). */
export function learnRole(name) {
  if (!signedIn() || role() === name) return;
  write(ROLE, name);
  write(ACTS, null); // what it acts as is no longer known: `may` goes by the role alone
  notify();
}

export function onChange(listener) {
  listeners.add(listener);
}

function notify() {
  for (const listener of listeners) listener();
}
