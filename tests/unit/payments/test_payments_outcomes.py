"""How an attempt's status moves on as answers arrive, in any order and more than once."""

import pytest

from payments.domain.outcomes import AttemptStatus, OutcomeStatus, is_final, transition


@pytest.mark.parametrize(
    ("current", "outcome", "expected"),
    [
        ("charging", "pending", "pending"),
        ("charging", "succeeded", "succeeded"),
        ("charging", "failed", "failed"),
        ("charging", "returned", "failed"),
        ("pending", "pending", None),
        ("pending", "succeeded", "succeeded"),
        ("pending", "failed", "failed"),
        ("pending", "returned", "failed"),
        ("succeeded", "succeeded", None),
        ("succeeded", "pending", None),
        ("succeeded", "failed", None),
        ("succeeded", "returned", "returned"),
        ("failed", "succeeded", None),
        ("failed", "failed", None),
        ("failed", "returned", None),
        ("returned", "returned", None),
        ("returned", "succeeded", None),
    ],
)
def test_transition(
    current: AttemptStatus, outcome: OutcomeStatus, expected: AttemptStatus | None
) -> None:
    assert transition(current, outcome) == expected


def test_only_answered_payments_are_final() -> None:
    assert [
        s for s in ("charging", "pending", "succeeded", "failed", "returned") if is_final(s)
    ] == [
        "succeeded",
        "failed",
        "returned",
    ]
