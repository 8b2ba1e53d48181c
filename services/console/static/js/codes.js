// Names of the codes travel data is full of (meal AVML, car vendor ZE, hotel chain MC, airline LH),
// as the preferences service lists them (`GET /v1/preferences/codes`); the console keeps no copy.

import { request } from "./api.js";

let tables = {};
let loading = null;

/**
 * Fetch the code names once. Resolves to true when they are known; false when the preferences
 * service could not be asked (codes are then shown bare, and the next call tries again). Not tied
 * to a screen's signal: several panels wait for the same fetch.
 */
export function loadCodes() {
  loading ??= request("preferences", "/v1/preferences/codes")
    .then((answer) => {
      tables = answer && typeof answer === "object" ? answer : {};
      return true;
    })
    .catch(() => {
      loading = null;
      return false;
    });
  return loading;
}

/** Whether the names have arrived. */
export function codesLoaded() {
  return Object.keys(tables).length > 0;
}

/** The name of `code` in `table` ("meals", "airlines", "hotel_chains", "car_vendors", "alliances"), or null. */
export function codeName(table, code) {
  const name = tables[table]?.[String(code ?? "").toUpperCase()] ?? tables[table]?.[String(code ?? "")];
  return typeof name === "string" ? name : null;
}

/** "AVML (Asian vegetarian)"; the code alone when it has no name; the name alone for a word ("star_alliance"). */
export function codeText(table, code) {
  const name = codeName(table, code);
  if (!name) return String(code);
  return /^[A-Z0-9]{2,4}$/.test(String(code)) ? `${code} (${name})` : name;
}
