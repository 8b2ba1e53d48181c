"""A second, independent labelled traveller data set: travel-shaped records from five systems.

    python -m bench.linkage_datagen --records 5000 --out travel.jsonl [--seed 11]

Modelled on the synthetic-data corruption model of FEBRL's generator and its successor GeCo
(P. Christen, "Probabilistic data generation for deduplication and data linkage", IDEAL 2005;
P. Christen and D. Vatsalan, "Flexible and extensible generation and corruption of personal data",
CIKM 2013): clean original records are drawn first, then 0 to many duplicates per entity, each
passed through independent corruption functions (keyboard and OCR typos, phonetic variants,
missing and swapped fields, date typos, replaced names, moved homes). It shares no code or parameter with
`bench/profile_datagen.py`, on which the profile service's defaults were tuned. Every parameter
is in `MODEL` below; the corruption tables are in `bench/linkage_corrupt.py`.

Travel shape:
- Five source systems (booking, hotel, car, HR, expense), each with its own field coverage
  (`MODEL.coverage`: hotel, car and expense records are thin, HR carries employee number,
  national id and addresses) and its own date format.
- Six Faker locales; Chinese travellers have their names in characters and, in other systems,
  in pinyin (pypinyin) for the same person.
- Hard negatives, labelled as relations between entities: twins (same family name, date of
  birth and home, different given name), parent and child (same names, dates of birth 22–38
  years apart, often the same home), namesakes (same names, nothing else shared).
- Each record carries the fields the traveller record is getting (home and business address,
  structured and one-line, employee number, national id, known traveller number, secondary
  emails and phones, gender) as extra columns; runners pass on what their system accepts.

Each record is labelled with `entity_id` (the true person), `system`, and `corruptions` (the
corruption types applied to it; originals have none).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from faker import Faker
from pypinyin import lazy_pinyin

from bench import linkage_corrupt as corrupt


@dataclass(frozen=True)
class Model:
    """Every parameter of the generator (probabilities unless said otherwise)."""

    locales: tuple[tuple[str, str, float], ...] = (
        ("en_US", "US", 0.25), ("zh_CN", "CN", 0.20), ("de_DE", "DE", 0.15),
        ("en_GB", "GB", 0.15), ("fr_FR", "FR", 0.15), ("es_ES", "ES", 0.10),
    )  # fmt: skip
    # Duplicates per entity (0, 1, 2, …): most travellers appear once or twice, a few many times.
    duplicates: tuple[float, ...] = (0.30, 0.25, 0.16, 0.11, 0.07, 0.05, 0.03, 0.02, 0.01)
    systems: tuple[tuple[str, float], ...] = (
        ("booking", 0.35), ("hotel", 0.2), ("car", 0.15), ("hr", 0.1), ("expense", 0.2),
    )  # fmt: skip
    # Share of a system's records that carry each field (names always).
    coverage: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "booking": {"dob": 0.85, "email": 0.9, "phone": 0.8, "passport": 0.5, "ktn": 0.15, "loyalty": 0.5,
                        "nationality": 0.8, "gender": 0.7, "company": 0.7, "home": 0.1, "business": 0.1},
            "hotel": {"dob": 0.1, "email": 0.5, "phone": 0.3, "passport": 0.1, "loyalty": 0.4, "nationality": 0.4,
                      "company": 0.5, "home": 0.3},
            "car": {"dob": 0.25, "email": 0.4, "phone": 0.25, "loyalty": 0.3, "company": 0.3, "home": 0.4},
            "hr": {"dob": 1.0, "email": 1.0, "phone": 0.9, "passport": 0.3, "nationality": 0.9, "gender": 1.0,
                   "company": 1.0, "home": 0.95, "business": 1.0, "employee": 1.0, "national_id": 0.9,
                   "secondary": 0.4},
            "expense": {"dob": 0.05, "email": 0.9, "phone": 0.1, "company": 1.0, "business": 0.6, "employee": 0.8},
        }
    )  # fmt: skip
    date_formats: dict[str, str] = field(
        default_factory=lambda: {
            "booking": "%Y-%m-%d", "hotel": "%d.%m.%Y", "car": "%d%b%Y", "hr": "%Y-%m-%d", "expense": "%d/%m/%Y",
        }
    )  # fmt: skip
    # Hard negatives: chance that a new entity brings a related one along.
    twin: float = 0.04
    parent_child: float = 0.05
    parent_same_home: float = 0.7
    namesake: float = 0.05
    # Corruptions of a duplicate, each drawn independently.
    keyboard_typo: float = 0.08
    doubled_letter: float = 0.05
    ocr: float = 0.04
    phonetic: float = 0.07
    nickname: float = 0.10
    honorific: float = 0.06
    replaced_name: float = 0.03  # a married name, or a second given name used instead of the first
    swapped_names: float = 0.05
    date_typo: float = 0.04
    day_month_swap: float = 0.04
    two_digit_year: float = 0.05
    missing_email: float = 0.20
    different_email: float = 0.12
    missing_phone: float = 0.20
    moved: float = 0.08  # a duplicate holds another home address (same country)
    address_typo: float = 0.10  # one keyboard typo in the street name
    pinyin: float = 0.6  # a Chinese traveller's duplicate written in pinyin instead of characters
    companies: int = 300  # size of the employer pool


MODEL = Model()
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "gmx.de", "web.de", "orange.fr", "qq.com", "163.com"]
LOYALTY = ["LH", "BA", "AF", "UA", "IB", "CA", "Marriott Bonvoy", "Hilton Honors", "Hertz Gold", "Sixt"]


@dataclass
class Address:
    street: str
    house_number: str
    postcode: str
    city: str
    country: str

    def line(self) -> str:
        return f"{self.street} {self.house_number}, {self.postcode} {self.city}, {self.country}"

    def as_json(self) -> dict[str, str]:
        return {"street": self.street, "house_number": self.house_number, "postcode": self.postcode,
                "city": self.city, "country": self.country}  # fmt: skip


@dataclass
class Company:
    name: str
    domain: str
    office: Address


@dataclass
class Person:
    entity_id: str
    locale: str
    country: str
    gender: str
    given: str
    family: str
    dob: date
    home: Address
    email: str
    secondary_emails: list[str]
    phone: str
    secondary_phones: list[str]
    passport: str
    national_id: str
    ktn: str | None
    loyalty: str
    company: Company
    employee_number: str
    middle: str  # a second given name, used by some systems instead of the first


class Generator:
    def __init__(self, seed: int, model: Model = MODEL) -> None:
        self.model = model
        self.rng = random.Random(seed)
        self.fakers: dict[str, Faker] = {}
        for locale, _, _ in model.locales:
            fake = Faker(locale)
            fake.seed_instance(seed)
            self.fakers[locale] = fake
        self.companies = [self._company(i) for i in range(model.companies)]
        self.count = 0
        self.taken: set[str] = set()

    def _company(self, i: int) -> Company:
        locale = self._locale()[0]
        fake = self.fakers[locale]
        name = fake.company()
        domain = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:16] + f"{i}.example"
        return Company(name, domain, self._address(locale))

    def _locale(self) -> tuple[str, str]:
        loc = self.model.locales
        lc, country, _ = self.rng.choices(loc, weights=[w for _, _, w in loc])[0]
        return lc, country

    def _address(self, locale: str) -> Address:
        fake = self.fakers[locale]
        country = {lc: c for lc, c, _ in self.model.locales}[locale]
        return Address(fake.street_name(), fake.building_number(), fake.postcode(), fake.city(), country)

    def _phone(self, country: str) -> str:
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        national = str(example.national_number)
        for _ in range(5):
            number = phonenumbers.parse(f"+{example.country_code}{national[:-6]}{self.rng.randrange(10**6):06d}")
            if phonenumbers.is_valid_number(number):
                break
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def _mail(self, given: str, family: str, domain: str) -> str:
        first, last = _ascii(given), _ascii(family)
        local = f"{first}.{last}" if self.rng.random() < 0.7 else f"{first[:1]}{last}"
        candidate, k = f"{local}@{domain}", 1
        while candidate in self.taken:
            k += 1
            candidate = f"{local}{k}@{domain}"
        self.taken.add(candidate)
        return candidate

    def person(self, *, like: Person | None = None, relation: str = "") -> Person:
        """A new person; `like` and `relation` make a twin, a parent or child, or a namesake of `like`."""
        rng = self.rng
        locale, country = (like.locale, like.country) if like else self._locale()
        fake = self.fakers[locale]
        gender = rng.choice("FM")
        given = fake.first_name_female() if gender == "F" else fake.first_name_male()
        family = fake.last_name()
        dob = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        home = self._address(locale)
        if like and relation == "twin":
            family, dob, home = like.family, like.dob, like.home
            while given == like.given:
                given = fake.first_name_female() if gender == "F" else fake.first_name_male()
        elif like and relation == "parent_child":
            gender, given, family = like.gender, like.given, like.family
            older = like.dob.year - 38 >= 1935 and rng.random() < 0.5
            gap = timedelta(days=rng.randrange(22 * 365, 38 * 365))
            dob = like.dob - gap if older else like.dob + gap
            home = like.home if rng.random() < self.model.parent_same_home else home
        elif like and relation == "namesake":
            gender, given, family = like.gender, like.given, like.family
        company = rng.choice(self.companies)
        n = self.count
        self.count += 1
        return Person(
            entity_id=f"T{n:07d}",
            locale=locale,
            country=country,
            gender=gender,
            given=given,
            family=family,
            dob=dob,
            home=home,
            email=self._mail(given, family, company.domain),
            secondary_emails=[self._mail(given, family, rng.choice(FREE_MAIL))],
            phone=self._phone(country),
            secondary_phones=[self._phone(country)] if rng.random() < 0.3 else [],
            passport="".join(rng.choices(string.ascii_uppercase + string.digits, k=9)),
            national_id=fake.nif() if locale == "es_ES" else fake.ssn(),
            ktn="".join(rng.choices(string.digits, k=9)) if country == "US" else None,
            loyalty=f"{rng.choice(LOYALTY)}:{rng.randrange(10**8, 10**10)}",
            company=company,
            employee_number=f"E{rng.randrange(10**6):06d}",
            middle=fake.first_name_female() if gender == "F" else fake.first_name_male(),
        )

    def record(self, p: Person, system: str, record_id: str, *, duplicate: bool) -> dict[str, Any]:
        """One source record of `p` as `system` holds it; a duplicate also suffers corruptions.

        A corruption is labelled only when it changed what the record holds.
        """
        rng, m = self.rng, self.model
        cover = m.coverage[system]
        present = {name for name, share in cover.items() if rng.random() < share}
        labels: list[str] = []
        given, family, dob = p.given, p.family, p.dob
        email: str | None = p.email if system in ("hr", "expense") or rng.random() < 0.5 else p.secondary_emails[0]
        phone: str | None = p.phone
        home = p.home
        date_format = m.date_formats[system]

        def corrupt_with(name: str, apply: Any, *args: Any) -> Any:
            value = args[-1]
            if rng.random() >= float(getattr(m, name)):
                return value
            changed = apply(*args)
            if changed != value:
                labels.append(name)
            return changed

        if duplicate:
            script = _same
            if p.locale == "zh_CN" and rng.random() < m.pinyin:
                script = _pinyin
                given, family = _pinyin(given), _pinyin(family)
                labels.append("pinyin")
            for kind in ("keyboard_typo", "doubled_letter", "ocr", "phonetic"):
                fn = getattr(corrupt, kind)
                if rng.random() < 0.5:
                    given = corrupt_with(kind, fn, rng, given)
                else:
                    family = corrupt_with(kind, fn, rng, family)
            given = corrupt_with("nickname", corrupt.nickname, rng, given)
            if p.gender == "F" and rng.random() < 0.5:
                family = corrupt_with("replaced_name", lambda _: script(self.fakers[p.locale].last_name()), family)
            else:
                given = corrupt_with("replaced_name", lambda _: script(p.middle), given)
            given = corrupt_with("honorific", corrupt.honorific, rng, given)
            given, family = corrupt_with("swapped_names", lambda gf: (gf[1], gf[0]), (given, family))
            if "dob" in present:
                dob = corrupt_with("date_typo", corrupt.date_typo, rng, dob)
                dob = corrupt_with("day_month_swap", corrupt.day_month_swap, dob)
                date_format = corrupt_with("two_digit_year", lambda _: "%d/%m/%y", date_format)
            if "email" in present:
                email = corrupt_with("missing_email", lambda _: None, email)
                if email is not None:
                    email = corrupt_with(
                        "different_email", lambda _: self._mail(p.given, p.family, rng.choice(FREE_MAIL)), email
                    )
            if "phone" in present:
                phone = corrupt_with("missing_phone", lambda _: None, phone)
            if "home" in present:
                home = corrupt_with("moved", lambda _: self._address(p.locale), home)
                home = corrupt_with(
                    "address_typo", lambda h: replace(h, street=corrupt.keyboard_typo(rng, h.street)), home
                )
        row: dict[str, Any] = {
            "record_id": record_id,
            "entity_id": p.entity_id,
            "system": system,
            "corruptions": labels,
            "given_name": given,
            "family_name": family,
        }
        if "dob" in present:
            row["date_of_birth"] = dob.strftime(date_format).upper()
        if email and "email" in present:
            row["email"] = email
        if phone and "phone" in present:
            row["phone"] = phone
        optional = {
            "gender": ("gender", p.gender),
            "nationality": ("nationality", p.country),
            "passport": ("passport_number", p.passport),
            "ktn": ("known_traveller_number", p.ktn),
            "national_id": ("national_id", p.national_id),
            "loyalty": ("loyalty", p.loyalty),
            "employee": ("employee_number", p.employee_number),
        }
        for name, (column, value) in optional.items():
            if name in present and value:
                row[column] = value
        if "secondary" in present:
            row["secondary_emails"] = list(p.secondary_emails)
            row["secondary_phones"] = list(p.secondary_phones)
        if "company" in present:
            row["company_name"] = p.company.name
            row["company_domain"] = p.company.domain
        if "home" in present:
            row["home_address"] = home.as_json()
            row["home_address_line"] = home.line()
            row["address_country"] = home.country
        if "business" in present:
            row["business_address"] = p.company.office.as_json()
            row["business_address_line"] = p.company.office.line()
        return row

    def system(self) -> str:
        systems = self.model.systems
        return self.rng.choices([s for s, _ in systems], weights=[w for _, w in systems])[0]


def _pinyin(text: str) -> str:
    return "".join(lazy_pinyin(text)).capitalize()


def _same(text: str) -> str:
    return text


def _ascii(text: str) -> str:
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return "".join(lazy_pinyin(text))
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum()).lower()


@dataclass
class TravelSet:
    records: list[dict[str, Any]]
    relations: list[tuple[str, str, str]]  # (entity, entity, twin | parent_child | namesake)


def generate(records: int, *, seed: int = 11, model: Model = MODEL) -> TravelSet:
    """About `records` labelled records (whole entities: a few more), shuffled."""
    gen = Generator(seed, model)
    rng = gen.rng
    rows: list[dict[str, Any]] = []
    relations: list[tuple[str, str, str]] = []
    while len(rows) < records:
        first = gen.person()
        people = [first]
        for relation in ("twin", "parent_child", "namesake"):
            if rng.random() < getattr(model, relation):
                other = gen.person(like=first, relation=relation)
                relations.append((first.entity_id, other.entity_id, relation))
                people.append(other)
        for p in people:
            extra = rng.choices(range(len(model.duplicates)), weights=model.duplicates)[0]
            rows.extend(gen.record(p, gen.system(), "", duplicate=k > 0) for k in range(extra + 1))
    rng.shuffle(rows)
    for n, row in enumerate(rows):
        row["record_id"] = f"R{n:07d}"  # opaque: no system may learn the entity from it
    return TravelSet(rows, relations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    data = generate(args.records, seed=args.seed)
    with args.out.open("w", encoding="utf-8") as f:
        for row in data.records:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    relations = args.out.with_suffix(".relations.json")
    relations.write_text(json.dumps(data.relations))
    print(f"{len(data.records)} records -> {args.out}, {len(data.relations)} relations -> {relations}", file=sys.stderr)


if __name__ == "__main__":
    main()
