"""The composition root: settings in, wired adapters out. The API, the worker, the notifier and
the SEPA commands all get their engine, Stripe client, gateways and mail sender from here; tests
pass their own gateways, mail sender or a fault injector."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from stripe import HTTPXClient, StripeClient

from payments.adapters.consumers import UseCaseConsumer
from payments.adapters.locks import PostgresAttemptLocks
from payments.adapters.sepa_file import Batch, SepaFileGateway, build_batch
from payments.adapters.sepa_xml import Creditor, parse_bank_file
from payments.adapters.smtp import SmtpSender
from payments.adapters.stripe_gateway import (
    StripeGateway,
    close_http_client,
    create_client,
    verify_webhook,
)
from payments.adapters.unit_of_work import unit_of_work
from payments.domain.outcomes import AttemptStatus
from payments.service_layer.bank_files import apply_bank_entries
from payments.service_layer.charging import PaymentDriver, RecordRequests
from payments.service_layer.ports import FaultInjector, Gateway, MailSender, UnitOfWork
from payments.service_layer.reminders import RecordNotifications, ReminderSender
from payments.settings import PaymentsSettings
from shared.database import create_engine

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def sepa_countries(settings: PaymentsSettings) -> frozenset[str]:
    return frozenset(c.strip().upper() for c in settings.sepa_countries.split(",") if c.strip())


def creditor_from(settings: PaymentsSettings) -> Creditor:
    """The creditor the bank-file debits are collected for, checked."""
    return Creditor.checked(
        settings.sepa_creditor_name,
        settings.sepa_creditor_iban,
        settings.sepa_creditor_bic,
        settings.sepa_creditor_id,
    )


@dataclass
class PaymentsContainer:
    settings: PaymentsSettings
    engine: AsyncEngine
    stripe: StripeClient
    stripe_http: HTTPXClient
    gateways: Mapping[str, Gateway]
    mail: MailSender
    faults: FaultInjector | None = None

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A new transaction over every store; commits when the block ends normally."""
        return unit_of_work(self.engine)

    def request_consumer(self) -> UseCaseConsumer:
        s = self.settings
        return UseCaseConsumer(
            RecordRequests(s.minimum_charge_minor, s.declines_per_method_30_days)
        )

    def driver(self) -> PaymentDriver:
        s = self.settings
        return PaymentDriver(
            self.unit_of_work,
            PostgresAttemptLocks(self.engine),
            self.gateways,
            retry_base_seconds=s.retry_base_seconds,
            retry_max_seconds=s.retry_max_seconds,
            concurrency=s.driver_concurrency,
            faults=self.faults,
        )

    def notification_consumer(self) -> UseCaseConsumer:
        s = self.settings
        return UseCaseConsumer(RecordNotifications(s.notify_to, s.notify_brand))

    def reminder_sender(self, clock: Callable[[], datetime] | None = None) -> ReminderSender:
        """Sends the recorded reminders; `clock` (tests) decides what is due."""
        return ReminderSender(
            self.unit_of_work, self.mail, sender=self.settings.notify_from, clock=clock
        )

    def verify_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The Stripe event in a webhook request; `InvalidWebhook` when it is not ours."""
        s = self.settings
        return verify_webhook(
            payload, signature, s.stripe_webhook_secret, s.stripe_webhook_tolerance_seconds
        )

    async def build_sepa_batch(self, day: date) -> Batch | None:
        """The collection file handed to the bank on `day` (the same file every time)."""
        s = self.settings
        return await build_batch(self.engine, creditor_from(s), day, s.sepa_lead_business_days)

    async def import_bank_file(
        self, document: bytes, now: datetime | None = None
    ) -> list[tuple[str, AttemptStatus]]:
        """Apply the bank's pain.002 / camt.05x; (request id, new status) per change."""
        entries = parse_bank_file(document)
        return await apply_bank_entries(self.unit_of_work, entries, now or datetime.now(UTC))

    async def close(self) -> None:
        await close_http_client(self.stripe_http)
        await self.engine.dispose()


def bootstrap(
    settings: PaymentsSettings,
    *,
    gateways: Mapping[str, Gateway] | None = None,
    mail: MailSender | None = None,
    faults: FaultInjector | None = None,
) -> PaymentsContainer:
    """Wire everything from `settings`; `gateways` replaces the real ones by name, `mail` the
    SMTP sender; `faults` (tests only) is called in the worker's crash windows."""
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    http = HTTPXClient(timeout=settings.stripe_timeout_seconds)
    client = create_client(
        settings.stripe_api_key, settings.stripe_api_base, settings.stripe_timeout_seconds, http
    )
    wired: dict[str, Gateway] = {
        "stripe": StripeGateway(client),
        "sepa_file": SepaFileGateway(
            engine,
            countries=sepa_countries(settings),
            lead_business_days=settings.sepa_lead_business_days,
        ),
    }
    wired.update(gateways or {})
    smtp = SmtpSender(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_start_tls,
        timeout_seconds=settings.smtp_timeout_seconds,
    )
    return PaymentsContainer(
        settings=settings,
        engine=engine,
        stripe=client,
        stripe_http=http,
        gateways=wired,
        mail=mail or smtp,
        faults=faults,
    )
