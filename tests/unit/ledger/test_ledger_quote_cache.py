"""One consumer process keeps one cache of quotes for all its lanes: a quantity priced by one
lane is not asked of the pricing service again by the other."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.bootstrap import bootstrap
from ledger.service_layer.mailing_sent import MailingSentHandler
from ledger.service_layer.ports import PricedItem, QuoteItem, RejectedItem
from ledger.settings import LedgerSettings

from .fakes import FakePricing

EFFECTIVE = datetime(2025, 1, 1, tzinfo=UTC)


class ListedPricing(FakePricing):
    """The fake pricing service, also answering for the price list's versions (as the cache
    reads them to know which version a past time falls in)."""

    def __init__(self) -> None:
        super().__init__(price_list_version=1)
        self.batches = 0

    async def price_list(self, price_list_id: str) -> dict[str, Any]:
        return {"id": price_list_id, "versions": [{"version": 1, "effective_from": str(EFFECTIVE)}]}

    async def quote_batch(self, items: Sequence[QuoteItem]) -> list[PricedItem | RejectedItem]:
        self.batches += 1
        return await super().quote_batch(items)


async def test_a_quantity_priced_by_one_lane_is_not_asked_again_by_the_other() -> None:
    container = bootstrap(LedgerSettings())
    pricing = ListedPricing()
    container.pricing = pricing  # type: ignore[assignment]
    handlers = [container.mailing_sent_consumer().handler for _ in range(2)]
    sent_at = datetime.now(UTC) - timedelta(minutes=5)  # settled: before the list was read
    item = QuoteItem("mailings-eur", "recipients", 1_200, sent_at)
    answers = []
    for handler in handlers:
        assert isinstance(handler, MailingSentHandler)
        answers += await handler.pricing.quote_batch([item])
    assert answers[0] == answers[1]
    assert isinstance(answers[0], PricedItem)
    assert (pricing.batches, len(pricing.asked)) == (1, 1)
    await container.close()
