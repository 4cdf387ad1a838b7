"""SEPA Core direct debits collected through the platform's own bank, by file.

`charge` only queues the debit (idempotent by key) and answers `pending`; the daily
`build_batch` puts the queue into one pain.008 file; `PostgresBankCollections` finds the debits
the bank's pain.002 / camt.054 answers are about (`service_layer.bank_files` applies them).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.sepa_xml import Collection, Creditor, build_pain008, message_id_of
from payments.domain.outcomes import Outcome
from payments.domain.requests import PaymentRequest, end_to_end_id
from payments.domain.sepa import BankEntry, check_debit, collection_date

_BY_KEY = text("SELECT end_to_end_id FROM sepa_collections WHERE idempotency_key = :key")
_LAST_USED = text(
    """
    SELECT max(b.collection_date) FROM sepa_collections c
    JOIN sepa_batches b ON b.message_id = c.batch_message_id
    WHERE c.mandate_reference = :reference AND c.iban = :iban
    """
)
_QUEUE = text(
    """
    INSERT INTO sepa_collections (idempotency_key, request_id, end_to_end_id, partner_id,
        amount_minor, currency, iban, bic, account_holder, mandate_reference, mandate_signed_on)
    VALUES (:key, :request_id, :end_to_end_id, :partner_id, :amount_minor, :currency, :iban,
        :bic, :account_holder, :mandate_reference, :mandate_signed_on)
    ON CONFLICT (idempotency_key) DO NOTHING
    """
)


class SepaFileGateway:
    name = "sepa_file"

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        countries: frozenset[str],
        lead_business_days: int,
        today: Callable[[], date] = date.today,
    ) -> None:
        self._engine = engine
        self._countries = countries
        self._lead = lead_business_days
        self._today = today

    async def charge(self, request: PaymentRequest, idempotency_key: str) -> Outcome:
        method = request.payment_method or {}
        async with self._engine.begin() as connection:
            queued = (await connection.execute(_BY_KEY, {"key": idempotency_key})).scalar()
            if queued is not None:
                return Outcome("pending", queued)
            last_used = (
                await connection.execute(
                    _LAST_USED,
                    {"reference": method.get("mandate_reference"), "iban": _compact(method)},
                )
            ).scalar()
            refused = check_debit(
                method,
                currency=request.currency,
                countries=self._countries,
                collection_on=collection_date(self._today(), self._lead),
                last_collected_on=last_used,
            )
            if refused is not None:
                return refused
            reference = end_to_end_id(request.request_id)
            await connection.execute(
                _QUEUE,
                {
                    "key": idempotency_key,
                    "request_id": request.request_id,
                    "end_to_end_id": reference,
                    "partner_id": request.partner_id,
                    "amount_minor": request.amount_minor,
                    "currency": request.currency,
                    "iban": _compact(method),
                    "bic": method.get("bic"),
                    "account_holder": method["account_holder"],
                    "mandate_reference": method["mandate_reference"],
                    "mandate_signed_on": date.fromisoformat(method["mandate_signed_on"]),
                },
            )
        return Outcome("pending", reference)

    async def lookup(
        self, request: PaymentRequest, idempotency_key: str, since: datetime
    ) -> Outcome | None:
        async with self._engine.connect() as connection:
            queued = (await connection.execute(_BY_KEY, {"key": idempotency_key})).scalar()
        return Outcome("pending", queued) if queued is not None else None


def _compact(method: dict[str, str]) -> str:
    return str(method.get("iban", "")).replace(" ", "").upper()


@dataclass(frozen=True, slots=True)
class Batch:
    message_id: str
    collection_date: date
    transactions: int
    document: bytes


_BATCH_OF_DAY = text(
    "SELECT message_id, collection_date, document FROM sepa_batches WHERE batch_date = :day"
)
_COUNT = text("SELECT count(*) FROM sepa_collections WHERE batch_message_id = :id")
# Taken with FOR UPDATE: two builders of the same day cannot both batch the same debits.
_QUEUED = text(
    """
    SELECT end_to_end_id, request_id, partner_id, amount_minor, currency, iban, bic,
           account_holder, mandate_reference, mandate_signed_on
    FROM sepa_collections
    WHERE batch_message_id IS NULL AND created_at < :until
    ORDER BY created_at, end_to_end_id
    FOR UPDATE
    """
)
_SAVE_BATCH = text(
    "INSERT INTO sepa_batches (message_id, batch_date, collection_date, document)"
    " VALUES (:id, :day, :collect_on, :document)"
)
_ASSIGN = text(
    "UPDATE sepa_collections SET batch_message_id = :id"
    " WHERE end_to_end_id = ANY(CAST(:ids AS text[]))"
)


async def build_batch(
    engine: AsyncEngine, creditor: Creditor, day: date, lead_business_days: int
) -> Batch | None:
    """The collection file handed to the bank on `day`: every debit queued until the end of
    that day, collected `lead_business_days` TARGET business days later. Building a day again
    returns the same file; None when there is nothing to collect."""
    async with engine.begin() as connection:
        existing = (await connection.execute(_BATCH_OF_DAY, {"day": day})).first()
        if existing is not None:
            count = (await connection.execute(_COUNT, {"id": existing.message_id})).scalar_one()
            return Batch(existing.message_id, existing.collection_date, count, existing.document)
        # Days end at midnight UTC.
        until = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        rows = (await connection.execute(_QUEUED, {"until": until})).all()
        if not rows:
            return None
        collect_on = collection_date(day, lead_business_days)
        document = build_pain008(
            creditor,
            [
                Collection(
                    end_to_end_id=row.end_to_end_id,
                    amount_minor=row.amount_minor,
                    currency=row.currency,
                    iban=row.iban,
                    bic=row.bic,
                    account_holder=row.account_holder,
                    mandate_reference=row.mandate_reference,
                    mandate_signed_on=row.mandate_signed_on,
                    description=f"Credits {row.partner_id} {row.request_id}"[:140],
                )
                for row in rows
            ],
            collect_on,
        )
        message_id = message_id_of(document)
        await connection.execute(
            _SAVE_BATCH,
            {"id": message_id, "day": day, "collect_on": collect_on, "document": document},
        )
        await connection.execute(
            _ASSIGN, {"id": message_id, "ids": [row.end_to_end_id for row in rows]}
        )
    return Batch(message_id, collect_on, len(rows), document)


_REQUEST_BY_E2E = text("SELECT request_id FROM sepa_collections WHERE end_to_end_id = :id")
_REQUESTS_OF_BATCH = text(
    "SELECT request_id FROM sepa_collections WHERE batch_message_id = :id ORDER BY request_id"
)


class PostgresBankCollections:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def requests_for(self, entry: BankEntry) -> list[str]:
        if entry.end_to_end_id is not None:
            found = await self._connection.execute(_REQUEST_BY_E2E, {"id": entry.end_to_end_id})
        else:
            found = await self._connection.execute(_REQUESTS_OF_BATCH, {"id": entry.message_id})
        return list(found.scalars().all())
