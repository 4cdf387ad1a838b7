"""Soft declines may be asked again later (by the ledger); hard ones never."""

import pytest

from payments.domain.declines import card_decline_is_soft, card_failure, sepa_failure
from payments.domain.outcomes import Outcome


@pytest.mark.parametrize(
    ("code", "decline_code", "soft"),
    [
        ("card_declined", "insufficient_funds", True),
        ("card_declined", "generic_decline", True),
        ("card_declined", "stolen_card", False),
        ("card_declined", "lost_card", False),
        ("card_declined", "do_not_try_again", False),
        ("authentication_required", None, False),
        ("card_declined", "authentication_required", False),
        ("expired_card", None, False),
        ("card_declined", None, True),
        ("card_declined", "some_new_code", True),
        (None, None, True),
    ],
)
def test_card_decline_is_soft(code: str | None, decline_code: str | None, soft: bool) -> None:
    assert card_decline_is_soft(code, decline_code) is soft


def test_a_card_failure_carries_the_most_specific_code() -> None:
    assert card_failure(
        "card_declined", "insufficient_funds", "Your card has insufficient funds.", "pi_1"
    ) == Outcome("failed", "pi_1", "insufficient_funds", "Your card has insufficient funds.", True)
    assert card_failure("authentication_required", None, None, None) == Outcome(
        "failed", None, "authentication_required", "the card was declined", False
    )


@pytest.mark.parametrize(
    ("code", "retryable", "reason"),
    [
        ("AM04", True, "insufficient funds"),
        ("MS03", True, "reason not specified"),
        ("AC04", False, "account closed"),
        ("MD01", False, "no valid mandate"),
        ("MS02", False, "refused by the debtor"),
        ("XX99", False, "direct debit not collected"),
    ],
)
def test_sepa_codes(code: str, retryable: bool, reason: str) -> None:
    assert sepa_failure(code, None, "MBX", returned=False) == Outcome(
        "failed", "MBX", code, reason, retryable
    )
    assert sepa_failure(code, "bank says no", "MBX", returned=True) == Outcome(
        "returned", "MBX", code, "bank says no", retryable
    )
