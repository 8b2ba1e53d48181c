"""Messages in the traveller's language: template parity, the choice of language, times labelled with their zone."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.meta
import pytest

import services.notifications
from services.notifications.adapters.places import AirportDirectory
from services.notifications.domain.formatting import long_date, money, place_time, segment_line, zone_time
from services.notifications.domain.itinerary import Place, annotate_segments
from services.notifications.domain.languages import choose_language
from services.notifications.domain.messages import MessageRenderer, default_environment
from services.notifications.domain.model import LANGUAGES, TEMPLATES, CommunicationPreferences, Recipient
from services.notifications.domain.zones import Whereabouts

TEMPLATE_DIR = Path(services.notifications.__file__).parent / "templates"
RENDERER = MessageRenderer(brand_name="Acme Travel")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _files(language: str) -> set[str]:
    return {p.name for p in (TEMPLATE_DIR / language).glob("*.j2")}


def _variables(env: jinja2.Environment, name: str) -> set[str]:
    source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]  # the packaged loader is set
    return set(jinja2.meta.find_undeclared_variables(env.parse(source)))


def test_every_message_exists_in_every_language_with_the_same_variables() -> None:
    env = default_environment()
    english = _files("en")
    for template in TEMPLATES:
        assert {f"{template}.subject.j2", f"{template}.txt.j2", f"{template}.html.j2"} <= english, template
    assert set(LANGUAGES) >= {"en", "de", "zh"}
    for language in LANGUAGES:
        assert _files(language) == english, f"{language} lacks or adds templates"
        for name in sorted(english):
            assert _variables(env, f"{language}/{name}") == _variables(env, f"en/{name}"), f"{language}/{name}"
    assert {p.name for p in TEMPLATE_DIR.iterdir() if p.is_dir()} == set(LANGUAGES), "a folder for each language"


def ann(**overrides: Any) -> Recipient:
    return Recipient(**({"customer_id": "cus_1", "display_name": "Ann Lee", "email": "a@x.example"} | overrides))


def said(language: str, source: str) -> CommunicationPreferences:
    return CommunicationPreferences(language=language, language_source=source)


@pytest.mark.parametrize(
    ("recipient", "preferences", "default", "expected"),
    [
        (ann(language="zh-CN"), None, "en", ("zh", "zh (profile)")),
        (ann(language="zh_Hans_CN"), None, "en", ("zh", "zh (profile)")),
        (ann(language="de"), said("zh", "stated"), "en", ("zh", "zh (traveller)")),
        (ann(language="de"), said("zh", "agent"), "en", ("zh", "zh (traveller)")),
        # The company's policy is a default: the traveller's profile comes first.
        (ann(language="de-AT"), said("zh", "policy"), "en", ("de", "de (profile)")),
        (ann(), said("zh", "policy"), "en", ("zh", "zh (company default)")),
        (ann(language="fr"), said("zh", "policy"), "en",
         ("zh", "zh (company default; not fr (profile): no templates)")),
        (ann(language="fr"), None, "de", ("de", "de (service default; not fr (profile): no templates)")),
        (ann(language="fr"), said("es", "stated"), "pt", ("en", "en (fallback; not es (traveller), fr (profile), pt "
                                                            "(service default): no templates)")),
        (ann(), None, "en", ("en", "en (service default)")),
    ],
)  # fmt: skip
def test_the_language_comes_from_the_view_and_the_fallback_is_said(
    recipient: Recipient, preferences: CommunicationPreferences | None, default: str, expected: tuple[str, str]
) -> None:
    choice = choose_language(recipient=recipient, preferences=preferences, default=default)
    assert (choice.language, choice.note) == expected


def test_a_policy_language_in_the_preferences_snapshot_is_the_companys_default() -> None:
    snapshot = {"preferences": [{"key": "comms.language", "value": "zh", "source": "policy"}]}
    prefs = CommunicationPreferences.from_snapshot(snapshot)
    assert (prefs.language, prefs.language_source) == ("zh", "policy")
    assert choose_language(recipient=ann(), preferences=prefs).note == "zh (company default)"


def test_a_time_where_the_traveller_is_is_labelled_with_the_zone() -> None:
    at = "2026-12-01T01:30:00+00:00"
    assert zone_time(at, SHANGHAI, "en") == "Tue 1 Dec 2026, 09:30 (Shanghai, CST)"
    assert zone_time(at, SHANGHAI, "de") == "Di., 1. Dez. 2026, 09:30 Uhr (Shanghai, CST)"
    assert zone_time(at, SHANGHAI, "zh") == "2026年12月1日（周二）09:30（上海时间）"
    assert zone_time(at, ZoneInfo("Europe/Berlin"), "zh") == "2026年12月1日（周二）02:30（柏林时间）"
    assert zone_time(at, UTC, "en") == "Tue 1 Dec 2026, 01:30 (UTC)"
    assert zone_time(at, UTC, "zh") == "2026年12月1日（周二）01:30（UTC）"


def test_a_time_at_a_place_in_chinese_names_the_city_in_chinese_where_cldr_knows_it() -> None:
    at = "2026-12-02T03:30:00+00:00"
    assert (
        place_time(at, Place("Shanghai", "Asia/Shanghai"), "zh") == "2026年12月2日（周三）11:30（上海当地时间，UTC+8）"
    )
    # Beijing shares Shanghai's zone but is not its city: its name stays as the table gives it.
    assert place_time(at, Place("Beijing", "Asia/Shanghai"), "zh").endswith("（Beijing当地时间，UTC+8）")
    assert place_time(at, Place("Delhi", "Asia/Kolkata"), "zh").endswith("09:00（Delhi当地时间，UTC+5:30）")
    assert place_time(at, None, "zh") == "2026年12月2日（周三）03:30（UTC）"


def test_dates_and_money_per_locale() -> None:
    assert [long_date("2026-03-05", lang) for lang in ("en", "de", "zh")] == [
        "5 Mar 2026",
        "5. März 2026",
        "2026年3月5日",
    ]
    assert [money("1234.5", "EUR", lang) for lang in ("en", "de", "zh")] == [
        "1,234.50 EUR",
        "1.234,50 EUR",
        "1,234.50 EUR",
    ]


def test_a_chinese_itinerary_reads_as_chinese() -> None:
    [flight, hotel] = annotate_segments(
        [
            {"kind": "flight", "carrier": "LH", "flight_number": "728", "origin": "FRA", "destination": "PVG",
             "departure_at": "2026-12-01T17:45:00+01:00", "arrival_at": "2026-12-02T11:30:00+08:00"},
            {"kind": "hotel", "hotel_name": "The Peninsula", "city": "Shanghai", "country": "CN",
             "check_in": "2026-12-02", "check_out": "2026-12-05"},
        ],
        AirportDirectory(),
    )  # fmt: skip
    assert segment_line(flight, "zh") == (
        "航班 LH 728：FRA → PVG，起飞2026年12月1日（周二）17:45（Frankfurt am Main当地时间，UTC+1），"
        "到达2026年12月2日（周三）11:30（上海当地时间，UTC+8）"
    )
    assert segment_line(hotel, "zh") == "酒店：The Peninsula，Shanghai，2026年12月2日 – 2026年12月5日（3晚）"


def test_a_survey_invitation_in_chinese() -> None:
    context = {"booking_id": "B1", "survey_url": "https://f.example/s/1", "expires_at": "2026-12-20T00:00:00+00:00"}
    msg = RENDERER.render(
        template="survey_invitation",
        language="zh",
        context=context,
        recipient=ann(given_name="伟", display_name="王伟"),
    )
    assert msg.language == "zh"
    assert msg.subject == "这次出行还顺利吗？花两分钟告诉我们"
    assert msg.text.startswith("王伟，您好：")
    assert "问卷开放至 2026年12月20日。" in msg.text
    assert '<html lang="zh">' in msg.html


def test_a_question_in_chinese_asks_in_chinese_when_it_can_and_says_so_when_it_cannot() -> None:
    base = {"answer_url": "https://p.example/c/t", "expires_at": "2026-12-20", "question": "Aisle seat?"}
    asked = RENDERER.render(
        template="preference_question", language="zh", recipient=ann(),
        context=base | {"questions": {"en": "Aisle seat?", "zh": "短途航班选靠过道的座位，对吗？"}},
    )  # fmt: skip
    assert "短途航班选靠过道的座位，对吗？" in asked.text
    english_only = RENDERER.render(template="preference_question", language="zh", recipient=ann(), context=base)
    assert "这个问题目前只有英文版本" in english_only.text
    assert "Aisle seat?" in english_only.text


def test_a_digest_lists_its_items_with_times_where_the_traveller_was() -> None:
    where = Whereabouts(SHANGHAI)
    items = [
        {"subject": "这次出行还顺利吗？", "link": "https://f.example/s/1", "planned_at": "2026-12-01T01:30:00+00:00"},
        {"subject": "想跟您确认一下出行偏好", "link": None, "planned_at": "2026-12-01T02:00:00+00:00"},
    ]
    msg = RENDERER.render(template="digest", language="zh", context={"items": items}, recipient=ann(), where=where)
    assert msg.subject == "Acme Travel 为您汇总了 2 条消息：这次出行还顺利吗？ · 想跟您确认一下出行偏好"
    assert "1. 这次出行还顺利吗？（2026年12月1日（周二）09:30（上海时间））" in msg.text
    assert "   https://f.example/s/1" in msg.text
    english = RENDERER.render(template="digest", language="en", context={"items": items}, recipient=ann(), where=where)
    assert "(Tue 1 Dec 2026, 09:30 (Shanghai, CST))" in english.text
