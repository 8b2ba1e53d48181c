// Turning API values into text for people.

import { codeName, codeText } from "./codes.js";

const dateFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});

function parse(value) {
  if (!value) return null;
  // A plain date ("2025-04-12") is a calendar day, not midnight UTC.
  const date = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00`) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function date(value) {
  const parsed = parse(value);
  return parsed ? dateFormat.format(parsed) : "—";
}

export function dateTime(value) {
  const parsed = parse(value);
  return parsed ? dateTimeFormat.format(parsed) : "—";
}

/** A <time> element's machine-readable value. */
export function isoValue(value) {
  const parsed = parse(value);
  return parsed ? parsed.toISOString() : undefined;
}

const percentFormat = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 0 });

export function percent(value) {
  return typeof value === "number" ? percentFormat.format(value) : "—";
}

/** "1 observation", "3 observations". */
export function count(n, singular, plural = `${singular}s`) {
  return `${n} ${n === 1 ? singular : plural}`;
}

export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "";
  const number = Number(amount);
  if (Number.isNaN(number)) return `${amount} ${currency ?? ""}`.trim();
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(number);
  } catch {
    return `${number} ${currency ?? ""}`.trim();
  }
}

/** A value the service withheld from this role: `{"redacted": "<category>"}` (services/kit/sensitive.py). */
export function isRedacted(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && typeof v.redacted === "string";
}

/** Any JSON value as one line of text. */
export function value(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (isRedacted(v)) return `hidden (${v.redacted.replaceAll("-", " ")})`;
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.length ? v.map(value).join(", ") : "—";
  if (typeof v === "object") {
    return Object.entries(v).map(([k, x]) => `${humanize(k)}: ${value(x)}`).join("; ");
  }
  return String(v);
}

/** "date_of_birth" → "Date of birth". */
export function humanize(name) {
  const text = String(name).replaceAll("_", " ").replaceAll(".", " · ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const FIELD_LABELS = {
  display_name: "Name",
  given_name: "Given name",
  family_name: "Family name",
  email: "Email",
  phone: "Phone",
  date_of_birth: "Date of birth",
  nationality: "Nationality",
  language: "Language",
  company_name: "Company",
};
export const FIELD_ORDER = Object.keys(FIELD_LABELS);
// Shown, not corrected here (an address is one block; identity numbers are never shown, only held).
const OTHER_LABELS = {
  home_address: "Home address",
  business_address: "Business address",
  employee_number: "Employee number",
  gender: "Gender",
  other_emails: "Other emails",
  other_phones: "Other phones",
  identity_numbers_on_file: "Identity numbers",
};
export const ADDRESS_FIELDS = ["home_address", "business_address"];
const IDENTITY_KINDS = { national_id: "national identity number", known_traveller: "known traveller number", redress: "redress number" };

export function fieldLabel(name) {
  return FIELD_LABELS[name] ?? OTHER_LABELS[name] ?? humanize(name);
}

/** A golden address as its lines: the street, then postcode and city, region, country (or the line as typed). */
export function addressLines(a) {
  if (!a || typeof a !== "object") return [];
  const lines = [a.street, [a.postcode, a.city].filter(Boolean).join(" "), a.region, a.country].filter(Boolean);
  return lines.length > 1 || !a.line ? lines : [a.line];
}

/** Which identity numbers are on file: "on file: national identity number, redress number" (never a number). */
export function onFile(kinds) {
  return Array.isArray(kinds) && kinds.length ? `on file: ${kinds.map((k) => IDENTITY_KINDS[k] ?? humanize(k)).join(", ")}` : "—";
}

/** One booking segment as a line: "Flight LH 400 FRA → JFK · Lufthansa · business · seat 2A" (codes named where known). */
export function segment(s) {
  const parts = [];
  switch (s?.kind) {
    case "flight":
      parts.push(`Flight ${s.carrier} ${s.flight_number} ${s.origin} → ${s.destination}`);
      if (codeName("airlines", s.carrier)) parts.push(codeName("airlines", s.carrier));
      parts.push(dateTime(s.departure_at));
      if (s.cabin) parts.push(s.cabin.replaceAll("_", " "));
      if (s.seat) parts.push(`seat ${s.seat}`);
      break;
    case "hotel":
      parts.push(`Hotel ${s.hotel_name}, ${s.city}`, `${date(s.check_in)} – ${date(s.check_out)}`);
      if (s.chain_code) parts.push(`chain ${codeText("hotel_chains", s.chain_code)}`);
      if (s.room_type) parts.push(s.room_type);
      break;
    case "car":
      parts.push(`Car ${codeText("car_vendors", s.vendor)} ${s.pickup_location} → ${s.dropoff_location}`, dateTime(s.pickup_at));
      if (s.car_class) parts.push(s.car_class);
      break;
    case "rail":
      parts.push(`Rail ${s.operator} ${s.origin} → ${s.destination}`, dateTime(s.departure_at));
      if (s.travel_class) parts.push(s.travel_class);
      break;
    default:
      parts.push(value(s));
  }
  return parts.join(" · ");
}
