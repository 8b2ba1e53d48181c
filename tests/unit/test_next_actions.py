"""Next best actions: each rule's trigger, its reason in words and the facts behind it."""

from __future__ import annotations

from datetime import date

from services.preferences.domain.actions import Inferred, Visits, confirm_inferred, suggest_hotels
from services.profile.domain.actions import customer_actions, missing_fields
from services.value.domain.actions import re_engage

PARIS = Visits(city="Paris", country="FR", stays=3, nights=7, last_check_in=date(2026, 11, 2), chains={"MC": 3})
LYON = Visits(city="Lyon", country="FR", stays=2, nights=3, last_check_in=date(2026, 9, 1), chains={"HI": 1})
ONCE = Visits(city="Nice", country="FR", stays=1, nights=2, last_check_in=date(2026, 8, 1), chains={})
CAPS = {"Paris": {"amount": 220, "currency": "EUR"}, "default": {"amount": 150, "currency": "EUR"}}


def test_hotels_of_a_preferred_chain_are_suggested_where_the_traveller_often_stays_within_the_cap() -> None:
    actions = suggest_hotels([PARIS, LYON, ONCE], ["MC", "HI"], CAPS, chain_names={"MC": "Marriott", "HI": "Hilton"})
    by_city = {a.facts["city"]: a for a in actions}
    assert set(by_city) == {"Paris", "Lyon"}  # Nice: one stay is not "often"
    # In Paris the traveller always took Marriott: the other preferred chain is the suggestion.
    assert by_city["Paris"].facts["chain"] == "HI"
    assert "policy allows up to 220 EUR a night" in by_city["Paris"].reason
    assert by_city["Lyon"].facts["chain"] == "MC"
    assert "(the policy's default)" in by_city["Lyon"].reason
    assert by_city["Lyon"].facts["rate_cap"] == {"applies_to": "default", "amount": 150, "currency": "EUR"}


def test_no_hotel_suggestion_without_a_preferred_chain_or_when_it_is_already_the_habit() -> None:
    assert suggest_hotels([PARIS], [], CAPS, chain_names={}) == []
    assert suggest_hotels([PARIS], ["MC"], CAPS, chain_names={}) == []  # always Marriott there already
    [uncapped] = suggest_hotels([LYON], ["MC"], {}, chain_names={})
    assert "the company policy sets no rate cap" in uncapped.reason


def test_only_unconfident_inferences_are_to_confirm_and_at_most_three() -> None:
    inferred = [
        Inferred("air.seat", "aisle", 0.55, 2, asked=True),
        Inferred("air.cabin", "business", 0.9, 9, asked=False),
        *(Inferred(f"x.k{i}", i, 0.3, 1, asked=False) for i in range(5)),
    ]
    actions = confirm_inferred(inferred, confident=0.7)
    assert len(actions) == 3
    assert all(a.facts["confidence"] < 0.7 for a in actions)
    seat = next(a for a in actions if a.facts["key"] == "air.seat")
    assert "confidence 55%" in seat.reason
    assert "asked and has not answered" in seat.reason


def test_a_profile_without_email_is_completed_first_and_urgently() -> None:
    golden = {"given_name": "Ann", "family_name": "Lee", "phone": "+4930123456"}
    assert missing_fields(golden)[0] == "email"
    [complete] = customer_actions(golden, 0.5, [], [], "cus_1")
    assert complete.kind == "complete_profile"
    assert complete.priority == "high"
    assert "cannot be reached" in complete.reason


def test_tasks_and_reviews_become_actions_with_their_facts() -> None:
    golden = dict.fromkeys(("given_name", "family_name", "email", "phone", "date_of_birth", "language"), "x")
    tasks = [("email-undeliverable", {}), ("conflict:phone", {"field": "phone", "values": ["+1", "+2"]})]
    actions = customer_actions(golden, 1.0, tasks, [("rev_1", "cus_2", 0.83)], "cus_1")
    kinds = [a.kind for a in actions if a.kind != "complete_profile"]
    assert kinds == ["fix_email", "settle_conflict", "decide_duplicate"]
    duplicate = actions[-1]
    assert duplicate.facts == {
        "review_id": "rev_1", "other_customer_id": "cus_2", "score": 0.83, "customer_id": "cus_1"
    }  # fmt: skip
    assert "+1, +2" in next(a for a in actions if a.kind == "settle_conflict").reason


def test_at_risk_and_lapsed_accounts_are_to_re_engage_with_the_churn_reason() -> None:
    gold = {
        "tier": "gold",
        "tier_label": "Gold",
        "churn": {"stage": "at_risk", "risk": "high", "reason": "no trip for 95 days, usually every 30"},
        "account_manager": {"kind": "agent", "id": "maria"},
    }
    [action] = re_engage(gold, subject="customer")
    assert action.priority == "high"
    assert "no trip for 95 days" in action.reason
    assert "Account manager: maria" in action.reason
    regular = {"tier": "regular", "churn": {"stage": "at_risk", "reason": "late"}}
    [normal] = re_engage(regular, subject="company")
    assert normal.priority == "normal"
    assert "No account manager is assigned" in normal.reason
    assert re_engage({"tier": "gold", "churn": {"stage": "active"}}, subject="customer") == []
