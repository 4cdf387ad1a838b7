"""LEDGER_INBOX_DEDUP_WINDOW: a duration, 7 days unless set, never zero or negative."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from ledger.settings import LedgerSettings


def test_the_dedup_window_is_seven_days_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_INBOX_DEDUP_WINDOW", raising=False)
    assert LedgerSettings().inbox_dedup_window == timedelta(days=7)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("14d", timedelta(days=14)),
        ("30 days", timedelta(days=30)),
        ("P10D", timedelta(days=10)),
        ("PT36H", timedelta(hours=36)),
        ("36:00:00", timedelta(hours=36)),
    ],
)
def test_the_dedup_window_reads_a_duration(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: timedelta
) -> None:
    monkeypatch.setenv("LEDGER_INBOX_DEDUP_WINDOW", value)
    assert LedgerSettings().inbox_dedup_window == expected


@pytest.mark.parametrize("value", ["0d", "-1d", "a week"])
def test_a_window_that_is_no_positive_duration_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LEDGER_INBOX_DEDUP_WINDOW", value)
    with pytest.raises(ValidationError, match="inbox_dedup_window"):
        LedgerSettings()


def test_the_prune_batch_size_is_at_least_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_INBOX_PRUNE_BATCH_SIZE", "0")
    with pytest.raises(ValidationError, match="inbox_prune_batch_size"):
        LedgerSettings()
