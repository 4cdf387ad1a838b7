"""SEPA Core rules: TARGET business days, creditor ids, IBANs and mandates."""

from datetime import date

import pytest

from payments.domain.sepa import (
    add_business_days,
    check_debit,
    collection_date,
    is_target_business_day,
    months_between,
    valid_creditor_id,
)

DE_AT = frozenset({"DE", "AT"})
MANDATE = {
    "type": "sepa_debit",
    "iban": "DE89 3704 0044 0532 0130 00",
    "account_holder": "Muster GmbH",
    "mandate_reference": "MB-P1-0001",
    "mandate_signed_on": "2025-01-15",
}


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 4, 2), True),  # Thursday before Easter
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 4, 6), False),  # Easter Monday
        (date(2026, 5, 1), False),  # Labour Day
        (date(2026, 5, 14), True),  # Ascension: a German holiday, but TARGET is open
        (date(2026, 10, 3), False),  # a Saturday
        (date(2026, 12, 24), True),
        (date(2026, 12, 25), False),
        (date(2025, 12, 26), False),
    ],
)
def test_target_business_days(day: date, open_: bool) -> None:
    assert is_target_business_day(day) is open_


@pytest.mark.parametrize(
    ("submitted", "collected"),
    [
        (date(2026, 11, 23), date(2026, 11, 24)),  # Monday -> Tuesday
        (date(2026, 11, 27), date(2026, 11, 30)),  # Friday -> Monday
        (date(2026, 4, 2), date(2026, 4, 7)),  # over Easter
        (date(2025, 12, 24), date(2025, 12, 29)),  # over Christmas and a weekend
        (date(2026, 12, 31), date(2027, 1, 4)),  # over New Year and a weekend
    ],
)
def test_collection_is_one_target_business_day_after_submission(
    submitted: date, collected: date
) -> None:
    assert collection_date(submitted) == collected


def test_more_lead_days() -> None:
    assert add_business_days(date(2026, 11, 23), 2) == date(2026, 11, 25)
    with pytest.raises(ValueError, match="at least 1"):
        add_business_days(date(2026, 11, 23), 0)


def test_creditor_identifier_check_digits() -> None:
    assert valid_creditor_id("DE98ZZZ09999999999")
    assert valid_creditor_id("de98 zzz0 9999 9999 99")
    assert not valid_creditor_id("DE97ZZZ09999999999")
    assert not valid_creditor_id("DE98ZZZ0999999999X9")
    assert not valid_creditor_id("98ZZZ09999999999")


def test_months_between() -> None:
    assert months_between(date(2023, 1, 15), date(2026, 1, 15)) == 36
    assert months_between(date(2023, 1, 15), date(2026, 1, 14)) == 35
    assert months_between(date(2026, 3, 1), date(2026, 2, 1)) == -1


def check(method: dict[str, str], **overrides: object) -> tuple[str | None, str | None] | None:
    arguments: dict[str, object] = {
        "currency": "EUR",
        "countries": DE_AT,
        "collection_on": date(2026, 11, 24),
        "last_collected_on": None,
    }
    arguments.update(overrides)
    refused = check_debit(method, **arguments)  # type: ignore[arg-type]
    return None if refused is None else (refused.code, refused.reason)


def test_a_valid_german_mandate_passes() -> None:
    assert check(MANDATE) is None
    assert check({**MANDATE, "iban": "AT611904300234573201", "bic": "BKAUATWWXXX"}) is None


def test_refusals() -> None:
    assert check({**MANDATE, "iban": "DE89370400440532013001"}) == (
        "invalid_iban",
        "IBAN invalid: Invalid checksum digits",
    )
    assert check({**MANDATE, "iban": "FR1420041010050500013M02606"}) == (
        "iban_country_not_supported",
        "direct debits from FR not offered",
    )
    assert check(MANDATE, currency="CHF") == (
        "currency_not_supported",
        "SEPA direct debits are in EUR",
    )
    assert check({**MANDATE, "bic": "NOTABIC"})[0] == "invalid_bic"  # type: ignore[index]
    assert check({**MANDATE, "account_holder": " "}) == (
        "mandate_incomplete",
        "account holder missing",
    )
    assert check({**MANDATE, "mandate_reference": "MB_1"})[0] == "mandate_incomplete"  # type: ignore[index]
    assert check({**MANDATE, "mandate_reference": "X" * 36})[0] == "mandate_incomplete"  # type: ignore[index]
    assert check({**MANDATE, "mandate_signed_on": "2026-11-25"}) == (
        "mandate_incomplete",
        "mandate signed after the collection date",
    )


def test_a_mandate_lapses_after_36_months_without_a_collection() -> None:
    old = {**MANDATE, "mandate_signed_on": "2023-11-24"}
    assert check(old) == (
        "mandate_expired",
        "mandate unused for 36 months; a new one is needed",
    )
    assert check({**MANDATE, "mandate_signed_on": "2023-11-25"}) is None
    assert check(old, last_collected_on=date(2024, 6, 3)) is None
