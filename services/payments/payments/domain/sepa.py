"""SEPA Core direct debit rules: TARGET business days, IBAN/BIC, creditor id, mandates.

- Collection date: the file reaches the bank at least one TARGET business day before it (D-1,
  the same for first and recurring debits since 2016). TARGET is closed on weekends, New Year,
  Good Friday, Easter Monday, 1 May, 25 and 26 December (`holidays.financial_holidays("ECB")`).
- A mandate lapses after 36 months without a collection.
- Mandate reference: at most 35 characters of the SEPA character set.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any, Literal

import holidays
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from payments.domain.declines import sepa_failure
from payments.domain.outcomes import Outcome
from payments.domain.requests import refusal

MANDATE_VALID_MONTHS = 36
_MANDATE_REFERENCE = re.compile(r"^[A-Za-z0-9+?/:().,' -]{1,35}$")
_CREDITOR_ID = re.compile(r"^([A-Z]{2})(\d{2})([A-Za-z0-9]{3})([A-Za-z0-9]{1,28})$")


@cache
def _target_closing_days(year: int) -> frozenset[date]:
    return frozenset(holidays.financial_holidays("ECB", years=year))


def is_target_business_day(day: date) -> bool:
    """Whether TARGET2 (and so SEPA settlement) is open on `day`."""
    return day.weekday() < 5 and day not in _target_closing_days(day.year)


def add_business_days(day: date, count: int) -> date:
    """The `count`-th TARGET business day after `day`."""
    if count < 1:
        raise ValueError("count must be at least 1")
    while count:
        day += timedelta(days=1)
        if is_target_business_day(day):
            count -= 1
    return day


def collection_date(submitted_on: date, lead_business_days: int = 1) -> date:
    """The earliest collection date for a file handed to the bank on `submitted_on`."""
    return add_business_days(submitted_on, lead_business_days)


def _mod97(text: str) -> int:
    digits = "".join(str(int(c, 36)) for c in text)
    return int(digits) % 97


def valid_creditor_id(creditor_id: str) -> bool:
    """A SEPA creditor identifier (e.g. DE98ZZZ09999999999): country, ISO 7064 MOD 97-10 check
    digits over the national id and the country, a business code the check ignores."""
    match = _CREDITOR_ID.match(creditor_id.replace(" ", "").upper())
    if not match:
        return False
    country, check, _business_code, national = match.groups()
    return _mod97(national + country + check) == 1


def months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end` (negative if `end` is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return months


def check_debit(
    method: dict[str, Any],
    *,
    currency: str,
    countries: frozenset[str],
    collection_on: date,
    last_collected_on: date | None,
) -> Outcome | None:
    """Why a bank-file debit cannot be collected (a refusal), or None when it can."""
    if currency != "EUR":
        return refusal("currency_not_supported", "SEPA direct debits are in EUR")
    try:
        iban = IBAN(str(method.get("iban", "")))
    except SchwiftyException as exc:
        return refusal("invalid_iban", f"IBAN invalid: {exc}")
    if iban.country_code not in countries:
        return refusal(
            "iban_country_not_supported", f"direct debits from {iban.country_code} not offered"
        )
    if method.get("bic"):
        try:
            BIC(str(method["bic"]))
        except SchwiftyException as exc:
            return refusal("invalid_bic", f"BIC invalid: {exc}")
    if not str(method.get("account_holder", "")).strip():
        return refusal("mandate_incomplete", "account holder missing")
    reference = str(method.get("mandate_reference", ""))
    if not _MANDATE_REFERENCE.match(reference):
        return refusal("mandate_incomplete", "mandate reference missing or not SEPA characters")
    try:
        signed_on = date.fromisoformat(str(method.get("mandate_signed_on", "")))
    except ValueError:
        return refusal("mandate_incomplete", "mandate date of signature missing or invalid")
    if signed_on > collection_on:
        return refusal("mandate_incomplete", "mandate signed after the collection date")
    last_used = max(signed_on, last_collected_on or signed_on)
    if months_between(last_used, collection_on) >= MANDATE_VALID_MONTHS:
        return refusal("mandate_expired", "mandate unused for 36 months; a new one is needed")
    return None


EntryKind = Literal["booked", "rejected", "returned"]


@dataclass(frozen=True, slots=True)
class BankEntry:
    """One answer of the bank about one debit (or, with only `message_id`, a whole file)."""

    kind: EntryKind
    end_to_end_id: str | None
    code: str | None
    reason: str | None = None
    message_id: str | None = None


def outcome_of_entry(entry: BankEntry) -> Outcome:
    """A bank answer as an outcome; the reference is the end-to-end id."""
    if entry.kind == "booked":
        return Outcome("succeeded", entry.end_to_end_id)
    return sepa_failure(
        entry.code, entry.reason, entry.end_to_end_id, returned=entry.kind == "returned"
    )
