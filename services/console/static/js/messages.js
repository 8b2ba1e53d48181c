// What a validator said, in words an agent reads at a glance.
//
// The services answer a 422 with problem details whose `errors` carry each field's message as
// the validating library wrote it: pydantic ("String should have at most 500 characters"),
// phonenumbers ("(1) The string supplied did not seem to be a phone number."), email-validator,
// or the service's own rule. The page shows the sentence below instead; anything not listed
// here is shown as the service wrote it, with a capital letter and a full stop.

// phonenumbers' NumberParseException codes (the "(n)" its messages start with).
const PHONE = {
  0: "add the country code, e.g. +49 89 1234567",
  1: "",
  2: "too short after the international prefix",
  3: "too short",
  4: "too long",
};

// [pattern, replacement(match) -> text]; the first pattern that matches wins.
const RULES = [
  // A service's own lead-in, then the library's reason: "not a valid phone number: (1) The string…".
  [/^(not a valid phone number)(?::\s*\((\d)\)[^]*)?$/i, (m) => sentence(m[1], PHONE[m[2]] ?? "")],
  [/^\((\d)\)\s.*phone number/i, (m) => sentence("not a valid phone number", PHONE[m[1]] ?? "")],
  [/^not a valid email address:\s*(?:The email address is not valid\.\s*)?(.+)$/i, (m) => sentence("not a valid email address", m[1])],
  [/^The email address is not valid\.\s*(.+)$/i, (m) => sentence("not a valid email address", m[1])],
  [/^not a valid date of birth:\s*unrecognised date format$/i, () => "Not a valid date of birth: write it as 1984-03-27."],
  [/^not a valid date of birth:\s*implausible date of birth$/i, () => "Not a valid date of birth: it lies in the future or more than 120 years back."],
  [/^not a valid date of birth:\s*not a calendar date$/i, () => "Not a valid date of birth: there is no such day."],
  [/^implausible date of birth$/i, () => "A date of birth in the future or more than 120 years back."],
  [/^unrecognised date format$/i, () => "Not a date: write it as 1984-03-27."],
  [/^not a known country(?::.*)?$/i, () => "Not a known country: use a code like DE or a name like Germany."],
  // pydantic v2
  [/^Field required$/i, () => "Required."],
  [/^String should have at least 1 character$/i, () => "Required."],
  [/^String should have at least (\d+) characters?$/i, (m) => `Too short: at least ${m[1]} characters.`],
  [/^String should have at most (\d+) characters?$/i, (m) => `Too long: at most ${m[1]} characters.`],
  [/^String should match pattern .*$/i, () => "Not in the expected format."],
  [/^Input should be a valid time.*$/i, () => "Enter a time as HH:MM, e.g. 22:00."],
  [/^Input should be a valid (?:date|datetime).*$/i, () => "Enter a date as YYYY-MM-DD."],
  [/^Input should be a valid integer.*$/i, () => "Enter a whole number."],
  [/^Input should be a valid boolean.*$/i, () => "Choose yes or no."],
  [/^Input should be (?:greater than or equal to|>=) (.+)$/i, (m) => `At least ${m[1]}.`],
  [/^Input should be (?:less than or equal to|<=) (.+)$/i, (m) => `At most ${m[1]}.`],
  [/^Input should be ('.*')$/i, (m) => `Choose ${m[1].replaceAll("'", "")}.`],
  [/^Extra inputs are not permitted$/i, () => "Not expected here."],
  [/^Dictionary should have at least 1 item.*$/i, () => "Nothing to save."],
  // The quiet-hours window's own rule, which speaks of the API's field.
  [/^start and end must differ; set enabled=false for no quiet hours$/i, () => "Start and end must differ; untick the box to switch quiet hours off."],
];

function sentence(lead, reason) {
  const text = reason ? `${lead}: ${lowerFirst(reason)}` : lead;
  return finish(text);
}

function lowerFirst(text) {
  // Keep acronyms and codes as they are ("IATA", "HH:MM"): only a capitalised word is lowered.
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

function finish(text) {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** The readable form of one validation message from a service. */
export function readable(message) {
  const text = String(message ?? "").trim().replace(/^Value error,\s*/i, "");
  for (const [pattern, replace] of RULES) {
    const match = pattern.exec(text);
    if (match) return replace(match);
  }
  return finish(text);
}
