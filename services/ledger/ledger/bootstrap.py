"""The composition root: settings in, wired adapters out. Tests build one with their settings."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from ledger.adapters.account_consumers import AccountConsumer
from ledger.adapters.pricing_client import CachedQuotes, PricingClient
from ledger.adapters.tokens import TokenLookup
from ledger.adapters.unit_of_work import unit_of_work
from ledger.adapters.views.reads import ReadPool
from ledger.adapters.webhook_sender import HttpWebhookSender, UrlPolicy
from ledger.domain.webhooks import AddressPolicy
from ledger.service_layer.mailing_sent import MailingSentHandler
from ledger.service_layer.payment_results import PaymentResultHandler
from ledger.service_layer.ports import UnitOfWork
from ledger.settings import LedgerSettings
from shared.database import create_engine

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from stripe import HTTPXClient, StripeClient


@dataclass
class LedgerContainer:
    settings: LedgerSettings
    engine: AsyncEngine
    http: httpx.AsyncClient
    pricing: PricingClient
    reads: ReadPool
    tokens: TokenLookup
    _stripe: tuple[StripeClient, HTTPXClient] | None = field(default=None, init=False)
    _webhook_http: httpx.AsyncClient | None = field(default=None, init=False)
    _quotes: CachedQuotes | None = field(default=None, init=False)

    def stripe(self) -> StripeClient:
        """The payment gateway's API, read by `ops reconcile` only (the ledger never charges).
        Built on first use: the processes that never reconcile never import the SDK."""
        if self._stripe is None:
            import stripe

            http = stripe.HTTPXClient()
            client = stripe.StripeClient(
                self.settings.stripe_api_key,
                base_addresses={"api": self.settings.stripe_api_base},
                http_client=http,
            )
            self._stripe = (client, http)
        return self._stripe[0]

    def webhook_url_policy(self) -> UrlPolicy:
        s = self.settings
        return UrlPolicy(
            AddressPolicy(s.webhook_allow_private_urls, s.webhook_allow_loopback_urls),
            allow_http=s.webhook_allow_http,
        )

    def webhook_sender(self) -> HttpWebhookSender:
        """Signed POSTs to partners' endpoints; redirects are never followed."""
        if self._webhook_http is None:
            self._webhook_http = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.settings.webhook_timeout_seconds),
                limits=httpx.Limits(max_connections=self.settings.webhook_concurrency),
                trust_env=False,  # no proxy from the environment between us and the guard
            )
        return HttpWebhookSender(
            self._webhook_http, self.webhook_url_policy(), self.settings.webhook_timeout_seconds
        )

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A new transaction over every store; commits when the block ends normally."""
        return unit_of_work(self.engine, snapshot_interval=self.settings.snapshot_interval)

    def quotes(self) -> CachedQuotes:
        """Quotes of immutable price list versions, kept by the process: one cache for all
        its lanes (a quote is the same whichever lane asks; a cache per lane asked pricing
        for every quantity once per lane)."""
        if self._quotes is None:
            self._quotes = CachedQuotes(self.pricing)
        return self._quotes

    def mailing_sent_consumer(self) -> AccountConsumer:
        handler = MailingSentHandler(
            self.quotes(),
            self.settings.minimum_charge_minor,
            timedelta(seconds=self.settings.max_sent_at_ahead_seconds),
        )
        return AccountConsumer(handler, self.settings.snapshot_interval)

    def payment_result_consumer(self) -> AccountConsumer:
        return AccountConsumer(PaymentResultHandler(), self.settings.snapshot_interval)

    async def close(self) -> None:
        await self.reads.close()
        await self.http.aclose()
        if self._webhook_http is not None:
            await self._webhook_http.aclose()
        if self._stripe is not None:
            await self._stripe[1].close_async()  # type: ignore[no-untyped-call]
            self._stripe[1].close()  # type: ignore[no-untyped-call]
        await self.engine.dispose()


def bootstrap(settings: LedgerSettings) -> LedgerContainer:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    http = httpx.AsyncClient(base_url=settings.pricing_url, timeout=httpx.Timeout(10.0))
    reads = ReadPool(settings.database_url, settings.db_pool_size)
    return LedgerContainer(
        settings=settings,
        engine=engine,
        http=http,
        pricing=PricingClient(http),
        reads=reads,
        tokens=TokenLookup(reads),
    )
