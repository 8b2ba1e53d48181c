"""Curated reference codes used to validate preferences.

No well-kept Python package ships IATA airline designators with alliance membership,
so the carriers travel desks book most are listed here: a designator a traveller
prefers or avoids must be one of them (extend the table when a desk needs another).
Alliance membership is as of 2025 (SAS moved to SkyTeam in 2024; ITA Airways left
SkyTeam in 2025 and is listed without one). Hotel chain and car rental codes are
assigned by the GDSs and are too many to list: a well-formed unknown code is accepted,
the known ones get a name. Meal codes are the IATA special-service-request (SSR) codes.
"""

from __future__ import annotations

STAR = "star_alliance"
ONEWORLD = "oneworld"
SKYTEAM = "skyteam"
ALLIANCES = (STAR, ONEWORLD, SKYTEAM)

# designator: (name, alliance or None)
AIRLINES: dict[str, tuple[str, str | None]] = {
    # Star Alliance
    "A3": ("Aegean Airlines", STAR), "AC": ("Air Canada", STAR), "CA": ("Air China", STAR),
    "AI": ("Air India", STAR), "NZ": ("Air New Zealand", STAR), "NH": ("All Nippon Airways", STAR),
    "OZ": ("Asiana Airlines", STAR), "OS": ("Austrian Airlines", STAR), "AV": ("Avianca", STAR),
    "SN": ("Brussels Airlines", STAR), "CM": ("Copa Airlines", STAR), "OU": ("Croatia Airlines", STAR),
    "MS": ("EgyptAir", STAR), "ET": ("Ethiopian Airlines", STAR), "BR": ("EVA Air", STAR),
    "LO": ("LOT Polish Airlines", STAR), "LH": ("Lufthansa", STAR), "ZH": ("Shenzhen Airlines", STAR),
    "SQ": ("Singapore Airlines", STAR), "SA": ("South African Airways", STAR), "LX": ("Swiss", STAR),
    "TP": ("TAP Air Portugal", STAR), "TG": ("Thai Airways", STAR), "TK": ("Turkish Airlines", STAR),
    "UA": ("United Airlines", STAR),
    # oneworld
    "AS": ("Alaska Airlines", ONEWORLD), "AA": ("American Airlines", ONEWORLD), "BA": ("British Airways", ONEWORLD),
    "CX": ("Cathay Pacific", ONEWORLD), "FJ": ("Fiji Airways", ONEWORLD), "AY": ("Finnair", ONEWORLD),
    "IB": ("Iberia", ONEWORLD), "JL": ("Japan Airlines", ONEWORLD), "MH": ("Malaysia Airlines", ONEWORLD),
    "QF": ("Qantas", ONEWORLD), "QR": ("Qatar Airways", ONEWORLD), "AT": ("Royal Air Maroc", ONEWORLD),
    "RJ": ("Royal Jordanian", ONEWORLD), "UL": ("SriLankan Airlines", ONEWORLD),
    # SkyTeam
    "AR": ("Aerolíneas Argentinas", SKYTEAM), "AM": ("Aeroméxico", SKYTEAM), "UX": ("Air Europa", SKYTEAM),
    "AF": ("Air France", SKYTEAM), "CI": ("China Airlines", SKYTEAM), "MU": ("China Eastern", SKYTEAM),
    "DL": ("Delta Air Lines", SKYTEAM), "GA": ("Garuda Indonesia", SKYTEAM), "KQ": ("Kenya Airways", SKYTEAM),
    "KL": ("KLM", SKYTEAM), "KE": ("Korean Air", SKYTEAM), "ME": ("Middle East Airlines", SKYTEAM),
    "SV": ("Saudia", SKYTEAM), "SK": ("SAS Scandinavian Airlines", SKYTEAM), "RO": ("TAROM", SKYTEAM),
    "VN": ("Vietnam Airlines", SKYTEAM), "VS": ("Virgin Atlantic", SKYTEAM), "MF": ("Xiamen Airlines", SKYTEAM),
    # no alliance
    "EI": ("Aer Lingus", None), "BT": ("airBaltic", None), "G9": ("Air Arabia", None), "DE": ("Condor", None),
    "MK": ("Air Mauritius", None), "TN": ("Air Tahiti Nui", None), "AK": ("AirAsia", None), "AD": ("Azul", None),
    "CZ": ("China Southern", None), "EN": ("Air Dolomiti", None), "U2": ("easyJet", None), "LY": ("El Al", None),
    "EK": ("Emirates", None), "EY": ("Etihad Airways", None), "EW": ("Eurowings", None), "FZ": ("flydubai", None),
    "XY": ("flynas", None), "F9": ("Frontier Airlines", None), "G3": ("GOL", None), "GF": ("Gulf Air", None),
    "HU": ("Hainan Airlines", None), "HA": ("Hawaiian Airlines", None), "HX": ("Hong Kong Airlines", None),
    "6E": ("IndiGo", None), "AZ": ("ITA Airways", None), "B6": ("JetBlue", None), "JQ": ("Jetstar", None),
    "LS": ("Jet2", None), "KU": ("Kuwait Airways", None), "LA": ("LATAM Airlines", None),
    "JJ": ("LATAM Brasil", None), "LG": ("Luxair", None), "DY": ("Norwegian", None), "WY": ("Oman Air", None),
    "PC": ("Pegasus Airlines", None), "PR": ("Philippine Airlines", None), "FR": ("Ryanair", None),
    "TR": ("Scoot", None), "3U": ("Sichuan Airlines", None), "WN": ("Southwest Airlines", None),
    "NK": ("Spirit Airlines", None), "XQ": ("SunExpress", None), "HV": ("Transavia", None),
    "TO": ("Transavia France", None), "BY": ("TUI Airways", None), "VA": ("Virgin Australia", None),
    "VY": ("Vueling", None), "WS": ("WestJet", None), "WF": ("Widerøe", None), "W6": ("Wizz Air", None),
    "JU": ("Air Serbia", None), "FB": ("Bulgaria Air", None), "4Y": ("Discover Airlines", None),
    "PG": ("Bangkok Airways", None), "5J": ("Cebu Pacific", None), "BI": ("Royal Brunei Airlines", None),
}  # fmt: skip

# Common GDS hotel chain codes (names only; unknown well-formed codes are accepted).
HOTEL_CHAINS: dict[str, str] = {
    "MC": "Marriott Hotels", "CY": "Courtyard", "RC": "Residence Inn", "SI": "Sheraton", "WI": "Westin",
    "RZ": "Ritz-Carlton", "LC": "The Luxury Collection", "HH": "Hilton", "HX": "Hampton", "ES": "Embassy Suites",
    "DT": "DoubleTree", "GI": "Hilton Garden Inn", "WA": "Waldorf Astoria", "CN": "Conrad", "HY": "Hyatt",
    "IC": "InterContinental", "HI": "Holiday Inn", "EX": "Holiday Inn Express", "CP": "Crowne Plaza",
    "IN": "Hotel Indigo", "RT": "Accor", "BW": "Best Western", "RD": "Radisson", "WY": "Wyndham",
    "RA": "Ramada", "FS": "Four Seasons", "SG": "Shangri-La", "MO": "Mandarin Oriental", "LW": "Leading Hotels",
}  # fmt: skip

# Common car rental vendor codes (names only; unknown well-formed codes are accepted).
CAR_VENDORS: dict[str, str] = {
    "ZE": "Hertz", "ZI": "Avis", "ZD": "Budget", "ET": "Enterprise", "ZL": "National", "AL": "Alamo",
    "SX": "Sixt", "EP": "Europcar", "ZR": "Dollar", "ZT": "Thrifty", "FX": "Fox", "ZA": "Payless",
    "FF": "Firefly", "AC": "Ace",
}  # fmt: skip

# IATA special meal (SSR) codes.
MEAL_CODES: dict[str, str] = {
    "AVML": "Asian vegetarian", "BBML": "baby", "BLML": "bland", "CHML": "child", "DBML": "diabetic",
    "FPML": "fruit platter", "GFML": "gluten-free", "HNML": "Hindu", "KSML": "kosher", "LCML": "low calorie",
    "LFML": "low fat", "LSML": "low salt", "MOML": "Muslim", "NLML": "low lactose", "RVML": "raw vegetarian",
    "SFML": "seafood", "VGML": "vegan", "VJML": "Jain vegetarian", "VLML": "lacto-ovo vegetarian",
    "VOML": "oriental vegetarian", "SPML": "special (described)",
}  # fmt: skip

DIETARY_NEEDS = (
    "vegetarian", "vegan", "halal", "kosher", "hindu", "jain", "gluten_free", "lactose_free", "nut_allergy",
    "shellfish_allergy", "diabetic", "low_sodium", "low_fat",
)  # fmt: skip

# Airline SSR codes in words, plus hotel and rail needs.
ACCESSIBILITY_NEEDS = (
    "wheelchair_ramp", "wheelchair_steps", "wheelchair_cabin", "own_wheelchair", "blind", "deaf",
    "cognitive_support", "service_animal", "meet_and_assist", "accessible_room", "roll_in_shower",
    "hearing_accessible_room", "step_free_access",
)  # fmt: skip

# ISO 639-1 language codes.
_LANGUAGE_TEXT = """
aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el
en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu
ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na
nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so
sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
"""
LANGUAGES = frozenset(_LANGUAGE_TEXT.split())

ALLIANCE_NAMES: dict[str, str] = {STAR: "Star Alliance", ONEWORLD: "oneworld", SKYTEAM: "SkyTeam"}


def name_tables() -> dict[str, dict[str, str]]:
    """The name of every listed code, by table: what a person reads beside `AVML`, `ZE` or `MC`."""
    return {
        "airlines": {code: name for code, (name, _) in AIRLINES.items()},
        "alliances": dict(ALLIANCE_NAMES),
        "hotel_chains": dict(HOTEL_CHAINS),
        "car_vendors": dict(CAR_VENDORS),
        "meals": dict(MEAL_CODES),
    }
