"""A labelled traveller data set for the profile benchmarks: realistic travellers and their corrupted duplicates.

    python bench/profile_datagen.py --entities 70000 --out /tmp/travellers.jsonl [--seed 7]

Each line is a source record as the bulk importer reads it, plus `entity_id`: the true
traveller it describes (the importer ignores that column; the accuracy benchmark uses it).

Travellers. Names come from Faker pools per locale (en_US 25%, zh_CN 20%, de_DE 15%, en_GB 10%,
fr_FR 10%, es_ES, it_IT, nl_NL, pl_PL 5% each), so common names (Smith, Müller, 王伟) recur and
namesakes are real. Each traveller has a birth date (18–75 years), a nationality matching the
locale, an email (70%, at the employer's domain or a free-mail provider), a mobile number
(75%, a valid number of the locale's country), a passport number (25%), a loyalty
membership (40%, in a programme's real number format) and an employer from a pool of 3,000
companies (80%, written with or without its legal form).

Duplicates. A traveller has 0 extra records with p=0.55, 1 with 0.25, 2 with 0.12, 3 with
0.08; each extra record comes from another source system and suffers independent corruptions:
- format variants (always re-drawn): name as given/family fields, "Given Family", "FAMILY/GIVEN MR",
  "Family, Given" or upper case; date as ISO, dd.mm.yyyy, dd/mm/yyyy or 12APR1985; phone as
  E.164, national with spaces or 00-prefixed; email case;
- Chinese names: characters vs pinyin (p=0.5), pinyin family-name first or last;
- typo in the family name (p=0.12) or given name (p=0.12): one substitution, deletion,
  insertion or transposition of adjacent letters (Latin names only);
- nickname for the given name (p=0.15, when the nickname table has one);
- swapped given/family fields (p=0.08);
- birth date missing (p=0.20), day and month transposed (p=0.04), one digit wrong (p=0.04);
- email missing (p=0.30) or changed to a new address (p=0.12); phone missing (p=0.35) or
  changed (p=0.12); passport and loyalty dropped (p=0.5 each); company dropped (p=0.3).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from faker import Faker
from nicknames import NickNamer
from pypinyin import lazy_pinyin

LOCALES = [
    ("en_US", "US", 0.25),
    ("zh_CN", "CN", 0.20),
    ("de_DE", "DE", 0.15),
    ("en_GB", "GB", 0.10),
    ("fr_FR", "FR", 0.10),
    ("es_ES", "ES", 0.05),
    ("it_IT", "IT", 0.05),
    ("nl_NL", "NL", 0.05),
    ("pl_PL", "PL", 0.05),
]
FREE_MAIL = ["gmail.com", "yahoo.com", "outlook.com", "gmx.de", "qq.com", "163.com", "hotmail.com", "web.de"]
PROGRAMMES = [
    ("LH", lambda r: "992" + "".join(r.choices(string.digits, k=12))),
    ("BA", lambda r: "".join(r.choices(string.digits, k=8))),
    ("AF", lambda r: "".join(r.choices(string.digits, k=10))),
    ("UA", lambda r: "".join(r.choices(string.ascii_uppercase, k=2)) + "".join(r.choices(string.digits, k=6))),
    ("Marriott Bonvoy", lambda r: "".join(r.choices(string.digits, k=9))),
]
SOURCES = ["gds-amadeus", "gds-sabre", "hotel-desk", "car-desk", "rail-desk", "crm", "expense", "hr-feed"]
LEGAL = ["GmbH", "AG", "Inc.", "Ltd", "LLC", "S.A.", "SE", "B.V.", "Co., Ltd.", "plc"]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


@dataclass
class Traveller:
    entity_id: str
    locale: str
    country: str
    given: str
    family: str
    dob: date
    email: str | None
    phone: str | None
    passport: str | None
    loyalty: tuple[str, str] | None
    company: tuple[str, str] | None  # name as written, domain


class Pools:
    """Name pools per locale (drawing from pools is fast; Faker calls are not)."""

    def __init__(self, seed: int, size: int = 4000) -> None:
        self.given: dict[str, list[str]] = {}
        self.family: dict[str, list[str]] = {}
        for locale, _, _ in LOCALES:
            fake = Faker(locale)
            fake.seed_instance(seed)
            self.given[locale] = [fake.first_name() for _ in range(size)]
            # Family names repeat the way they do in life: the locale's own frequency list.
            self.family[locale] = [fake.last_name() for _ in range(size)]
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.companies = []
        for i in range(3000):
            base = fake.company().replace(",", "").split(" and ")[0]
            base = base.replace(" Inc", "").replace(" LLC", "").replace(" Ltd", "").replace(" PLC", "").strip()
            domain = "".join(ch for ch in base.lower() if ch.isalnum())[:20] + f"{i}.example"
            self.companies.append((base, domain))


def _ascii(text: str) -> str:
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return "".join(lazy_pinyin(text))
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum()).lower()


def _phone(rng: random.Random, country: str) -> str | None:
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return None
    national = str(example.national_number)
    for _ in range(5):
        digits = national[:-6] + "".join(rng.choices(string.digits, k=6))
        candidate = phonenumbers.parse(f"+{example.country_code}{digits}")
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


_TAKEN: set[str] = set()


def _unique(address: str) -> str:
    """Mail providers hand out each address once: a namesake gets a number, as in life."""
    local, _, domain = address.partition("@")
    candidate, k = address, 1
    while candidate in _TAKEN:
        k += 1
        candidate = f"{local}{k}@{domain}"
    _TAKEN.add(candidate)
    return candidate


def traveller(rng: random.Random, pools: Pools, n: int) -> Traveller:
    locale, country = rng.choices([(lc, c) for lc, c, _ in LOCALES], weights=[w for _, _, w in LOCALES])[0]
    given = rng.choice(pools.given[locale])
    family = rng.choice(pools.family[locale])
    dob = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 57))
    company = rng.choice(pools.companies) if rng.random() < 0.8 else None
    email = None
    if rng.random() < 0.7:
        local = (
            f"{_ascii(given)}.{_ascii(family)}"
            if rng.random() < 0.7
            else f"{_ascii(given)[:1]}{_ascii(family)}{rng.randint(1, 99)}"
        )
        domain = company[1] if company and rng.random() < 0.6 else rng.choice(FREE_MAIL)
        email = _unique(f"{local}@{domain}")
    passport = "".join(rng.choices(string.ascii_uppercase + string.digits, k=9)) if rng.random() < 0.25 else None
    loyalty = None
    if rng.random() < 0.4:
        prog, make = rng.choice(PROGRAMMES)
        loyalty = (prog, make(rng))
    return Traveller(
        entity_id=f"E{n:08d}",
        locale=locale,
        country=country,
        given=given,
        family=family,
        dob=dob,
        email=email,
        phone=_phone(rng, country) if rng.random() < 0.75 else None,
        passport=passport,
        loyalty=loyalty,
        company=company,
    )


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 3 or not word.isascii():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice("sdit")
    if op == "s":
        return word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1 :]
    if op == "d":
        return word[:i] + word[i + 1 :]
    if op == "i":
        return word[:i] + rng.choice(string.ascii_lowercase) + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


_NICK = NickNamer()


def _nickname(rng: random.Random, given: str) -> str:
    options = sorted(_NICK.nicknames_of(given.lower()))
    return rng.choice(options).capitalize() if options else given


def record(rng: random.Random, t: Traveller, source: str, n: int, *, duplicate: bool) -> dict[str, Any]:
    given, family = t.given, t.family
    chinese = t.locale == "zh_CN"
    dob: date | None = t.dob
    email, phone, passport, loyalty, company = t.email, t.phone, t.passport, t.loyalty, t.company
    dob_text = None
    if duplicate:
        if chinese and rng.random() < 0.5:
            given, family = "".join(lazy_pinyin(given)).capitalize(), "".join(lazy_pinyin(family)).capitalize()
        if rng.random() < 0.12:
            family = _typo(rng, family)
        if rng.random() < 0.12:
            given = _typo(rng, given)
        if rng.random() < 0.15:
            given = _nickname(rng, given)
        if rng.random() < 0.08:
            given, family = family, given
        roll = rng.random()
        if roll < 0.20:
            dob = None
        elif roll < 0.24 and t.dob.day <= 12:
            dob = date(t.dob.year, t.dob.day, t.dob.month)
        elif roll < 0.28:
            iso = t.dob.isoformat()
            pos = rng.choice([2, 3, 5, 6, 8, 9])
            dob_text = iso[:pos] + str((int(iso[pos]) + 1) % 10) + iso[pos + 1 :]
        roll = rng.random()
        if roll < 0.30:
            email = None
        elif roll < 0.42 and email:
            email = _unique(f"{_ascii(t.given)[:1]}{_ascii(t.family)}{rng.randint(100, 999)}@{rng.choice(FREE_MAIL)}")
        roll = rng.random()
        if roll < 0.35:
            phone = None
        elif roll < 0.47:
            phone = _phone(rng, t.country)
        if rng.random() < 0.5:
            passport = None
        if rng.random() < 0.5:
            loyalty = None
        if rng.random() < 0.3:
            company = None
    row: dict[str, Any] = {"entity_id": t.entity_id, "source_system": source, "source_id": f"R{n:08d}"}
    style = rng.random()
    if chinese and all("\u4e00" <= ch <= "\u9fff" for ch in given + family):
        if style < 0.5:
            row["full_name"] = family + given
        else:
            row["given_name"], row["family_name"] = given, family
    elif chinese and style < 0.4:
        row["full_name"] = f"{family.upper()} {given}" if rng.random() < 0.5 else f"{given} {family}"
    elif style < 0.45:
        row["given_name"], row["family_name"] = given, family
    elif style < 0.65:
        row["full_name"] = f"{given} {family}"
    elif style < 0.8:
        row["full_name"] = f"{family.upper()}/{given.upper()} {rng.choice(['MR', 'MRS', 'MS'])}"
    elif style < 0.9:
        row["full_name"] = f"{family}, {given}"
    else:
        row["given_name"], row["family_name"] = given.upper(), family.upper()
    if dob_text:
        row["date_of_birth"] = dob_text
    elif dob:
        fmt = rng.random()
        if fmt < 0.5:
            row["date_of_birth"] = dob.isoformat()
        elif fmt < 0.75:
            row["date_of_birth"] = dob.strftime("%d.%m.%Y")
        elif fmt < 0.9:
            row["date_of_birth"] = dob.strftime("%d/%m/%Y")
        else:
            row["date_of_birth"] = f"{dob.day:02d}{MONTHS[dob.month - 1]}{dob.year}"
    if email:
        row["email"] = email.upper() if rng.random() < 0.1 else email
    if phone:
        parsed = phonenumbers.parse(phone)
        fmt = rng.random()
        if fmt < 0.5:
            row["phone"] = phone
        elif fmt < 0.8:
            row["phone"] = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        else:
            row["phone"] = "00" + phone[1:]
    row["nationality"] = t.country
    if passport:
        row["passport_number"] = passport
    if loyalty:
        row["loyalty"] = f"{loyalty[0]}:{loyalty[1]}"
    if company:
        row["company_name"] = f"{company[0]} {rng.choice(LEGAL)}" if rng.random() < 0.5 else company[0]
        row["company_domain"] = company[1]
    return row


def generate(entities: int, *, seed: int = 7, duplicates: bool = True) -> Iterator[dict[str, Any]]:
    """Records for `entities` travellers (duplicates shuffled in among the originals)."""
    rng = random.Random(seed)
    pools = Pools(seed)
    n = 0
    pending: list[dict[str, Any]] = []
    for i in range(entities):
        t = traveller(rng, pools, i)
        sources = rng.sample(SOURCES, 4)
        yield record(rng, t, sources[0], n, duplicate=False)
        n += 1
        extra = rng.choices([0, 1, 2, 3], weights=[0.55, 0.25, 0.12, 0.08])[0] if duplicates else 0
        for k in range(extra):
            pending.append(record(rng, t, sources[k + 1], n, duplicate=True))
            n += 1
        # Duplicates arrive later and out of order, as they do from other systems.
        if len(pending) > 5000:
            rng.shuffle(pending)
            yield from pending[:2500]
            del pending[:2500]
    rng.shuffle(pending)
    yield from pending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=70_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-duplicates", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    count = 0
    with args.out.open("w", encoding="utf-8") as f:
        for row in generate(args.entities, seed=args.seed, duplicates=not args.no_duplicates):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    print(f"{count} records for {args.entities} travellers -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
