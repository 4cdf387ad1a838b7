"""LEDGER_CONSUMER_BATCH_SIZE: a batch's mailings are priced in one call, so no batch may hold
more items than pricing takes in one. LEDGER_CONSUMER_LINGER_MS: how long a batch waits for more."""

import pytest
from pydantic import ValidationError

from ledger.settings import LedgerSettings
from pricing.service_layer.commands import MAX_BATCH_ITEMS


def test_the_largest_batch_is_the_most_pricing_prices_in_one_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_CONSUMER_BATCH_SIZE", str(MAX_BATCH_ITEMS))
    assert LedgerSettings().consumer_batch_size == MAX_BATCH_ITEMS
    monkeypatch.setenv("LEDGER_CONSUMER_BATCH_SIZE", str(MAX_BATCH_ITEMS + 1))
    with pytest.raises(ValidationError, match="consumer_batch_size"):
        LedgerSettings()


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_batch_holds_at_least_one_message(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LEDGER_CONSUMER_BATCH_SIZE", value)
    with pytest.raises(ValidationError, match="consumer_batch_size"):
        LedgerSettings()


def test_the_linger_is_set_in_milliseconds_up_to_two_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert LedgerSettings().consumer_linger_ms == 50
    monkeypatch.setenv("LEDGER_CONSUMER_LINGER_MS", "200")
    assert LedgerSettings().consumer_linger_ms == 200
    for refused in ("-1", "2001"):
        monkeypatch.setenv("LEDGER_CONSUMER_LINGER_MS", refused)
        with pytest.raises(ValidationError, match="consumer_linger_ms"):
            LedgerSettings()
