"""`mailing.sent` -> credit debits: price the batch in one call, then debit each mailing.

A mailing already went out when this runs, so its debit is recorded whatever the balance; what
cannot be recorded (bad bytes, a schema violation, an unknown partner or customer, a price list
the pricing service refuses, a send time too far in the future) becomes a dead letter with its
reason, and the batch goes on.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from ledger.domain import (
    Decision,
    LedgerError,
    PartnerAccount,
    auto_purchase_due,
    auto_purchase_id,
    debit_mailing,
    request_purchase,
)
from ledger.service_layer.accounts import AccountCache, ChangeSet, load_accounts
from ledger.service_layer.ports import (
    DebitQuote,
    MailingDebitedBefore,
    PricedItem,
    Pricing,
    PricingUnavailable,
    QuoteItem,
    RejectedItem,
    UnitOfWork,
)
from shared.codec import InvalidMessage, decode_document, parse_time
from shared.messaging.consumer import BatchResult
from shared.messaging.inbox import DeadLetter, EventKey, IncomingRecord
from shared.topics import MAILING_SENT, MAILING_SENT_DLQ

# Component names the ledger prices: recipients of a mailing -> credits; credits -> money.
MAILING_COMPONENT = "recipients"
CREDITS_COMPONENT = "credits"


# One per incoming message: a NamedTuple is built at a third of a frozen dataclass's cost.
class Mailing(NamedTuple):
    record: IncomingRecord
    event_source: str
    event_id: str
    mailing_id: str
    partner_id: str
    customer_id: str
    recipients: int
    sent_at: datetime
    reservation_id: str | None

    @property
    def event_key(self) -> EventKey:
        """What identifies the event (CloudEvents: source and id together)."""
        return (self.event_source, self.event_id)


def _minor(item: PricedItem) -> int:
    return int(item.quote["amount_minor"])


class MailingSentHandler:
    """Debits a batch of sent mailings, in the consumer's transaction."""

    topic = MAILING_SENT.name
    dead_letter_topic = MAILING_SENT_DLQ.name
    # Pricing is down: nothing is lost by waiting, so the batch is tried again. A mailing was
    # debited before: the batch is decided again, looking its mailings up (see `handle`).
    transient: tuple[type[Exception], ...] = (PricingUnavailable, MailingDebitedBefore)
    # How many batches after a mailing turned out debited before look their mailings up first.
    lookup_batches_after_a_repeat = 100

    def __init__(
        self,
        pricing: Pricing,
        minimum_charge_minor: int,
        max_sent_at_ahead: timedelta = timedelta(days=1),
    ) -> None:
        self.pricing = pricing
        self._minimum_charge_minor = minimum_charge_minor
        self._max_sent_at_ahead = max_sent_at_ahead
        self._lookups_left = 0

    async def handle(
        self, uow: UnitOfWork, records: Sequence[IncomingRecord], cache: AccountCache
    ) -> BatchResult:
        now = datetime.now(UTC)
        dead: list[DeadLetter] = []

        def reject(record: IncomingRecord, reason: str) -> None:
            dead.append(record.dead_letter(reason))

        mailings: list[Mailing] = []
        for record in records:
            try:
                mailing = _parse(record)
            except InvalidMessage as exc:
                reject(record, str(exc))
                continue
            if mailing.sent_at > now + self._max_sent_at_ahead:
                # A clock or a field gone wrong; debiting it "today" would hide the fault.
                reject(
                    record,
                    f"$.data.sent_at: {mailing.sent_at.isoformat()} is more than"
                    f" {self._max_sent_at_ahead.total_seconds():.0f} s ahead of the ledger's"
                    " clock",
                )
                continue
            mailings.append(mailing)

        # The same event (source and id) twice, a redelivery or twice in this batch, takes
        # effect once; another source may use the same id for an event of its own.
        event_keys = [m.event_key for m in mailings]
        new_keys = await uow.inbox.claim(self.topic, event_keys)
        unique: list[Mailing] = []
        for mailing, event_key in zip(mailings, event_keys, strict=True):
            if event_key in new_keys:
                new_keys.discard(event_key)
                unique.append(mailing)
        duplicates = len(mailings) - len(unique)

        # The batch waits for the API commands on its partners instead of losing to them.
        await uow.events.wait_for_writers([m.partner_id for m in unique])
        accounts = await load_accounts(uow, (m.partner_id for m in unique), cache)
        # A mailing reported twice under two event ids is rare, and the store refuses its
        # second debit anyway (`MailingDebitedBefore`, a unique index): so the batch does not
        # look its mailings up unless one was refused lately. The refused batch is rolled back
        # and tried again with the lookup, which dead-letters the copy with its reason.
        already: set[tuple[str, str]] = set()
        if self._lookups_left > 0:
            self._lookups_left -= 1
            already = await uow.projections.mailings_already_debited(
                [(m.partner_id, m.mailing_id) for m in unique]
            )
        known: list[Mailing] = []
        for mailing in unique:
            if accounts[mailing.partner_id] is None:
                reject(mailing.record, f"unknown partner {mailing.partner_id!r}")
            elif (mailing.partner_id, mailing.mailing_id) in already:
                reject(mailing.record, f"mailing {mailing.mailing_id!r} was debited already")
            else:
                # A second copy within this batch is caught when it is debited: the first
                # copy may still be refused (unknown customer, pricing), and then it counts.
                known.append(mailing)

        priced = await self._price(known, accounts, reject)
        purchases = await self._auto_purchases_due(priced, accounts, now)
        changes = ChangeSet(accounts, now)
        debited: list[tuple[Mailing, PricedItem]] = []
        applied = 0
        for index, (mailing, credits_quote, charge_minor) in enumerate(priced):
            if (mailing.partner_id, mailing.mailing_id) in already:
                reject(mailing.record, f"mailing {mailing.mailing_id!r} was debited already")
                continue
            try:
                decision = self._debit(
                    changes.state(mailing.partner_id), mailing, credits_quote, charge_minor
                )
            except LedgerError as exc:
                reject(mailing.record, str(exc))
                continue
            already.add((mailing.partner_id, mailing.mailing_id))
            changes.decide(mailing.partner_id, decision.events, _metadata(mailing), decision.states)
            debited.append((mailing, credits_quote))
            applied += 1
            due = purchases.get(mailing.partner_id)
            if due is not None and due[0] == index:
                request_auto_purchase(changes, mailing.partner_id, due[1], now)

        try:
            await changes.write(uow)
        except MailingDebitedBefore:
            self._lookups_left = self.lookup_batches_after_a_repeat
            raise
        kept = cache.quotes_kept
        # Nearly every quote was kept before: its DebitQuote is built only when it is new.
        fresh: dict[tuple[str, int, str, int], DebitQuote] = {}
        for mailing, credits_quote in debited:
            key = _quote_key(mailing, credits_quote)
            if key not in kept:
                fresh[key] = _debit_quote(mailing, credits_quote)
        await uow.debit_quotes.keep(list(fresh.values()))
        if len(kept) + len(fresh) > 100_000:
            kept.clear()
        kept.update(fresh)
        for state in changes.touched:
            cache.put(state)
        return BatchResult(applied=applied, duplicates=duplicates, dead_letters=dead)

    def _debit(
        self,
        state: PartnerAccount | None,
        mailing: Mailing,
        credits_quote: PricedItem,
        charge_minor: int | None,
    ) -> Decision:
        return debit_mailing(
            state,
            mailing_id=mailing.mailing_id,
            customer_id=mailing.customer_id,
            recipients=mailing.recipients,
            credits=_minor(credits_quote),
            price_list_id=credits_quote.price_list_id,
            price_list_version=credits_quote.price_list_version,
            # The send time decides whether the mailing's hold was still alive.
            now=mailing.sent_at,
            reservation_id=mailing.reservation_id,
            charge_minor=charge_minor,
            minimum_charge_minor=self._minimum_charge_minor,
        )

    async def _auto_purchases_due(
        self,
        priced: list[tuple[Mailing, PricedItem, int | None]],
        accounts: dict[str, PartnerAccount | None],
        now: datetime,
    ) -> dict[str, tuple[int, PricedItem]]:
        """For each partner whose auto-purchase falls due within this batch: after which of
        the batch's debits, and the priced credits to buy.

        A trial run of the debits finds the point; the purchase is then requested right after
        that debit (not at the end of the batch), exactly as if mailings came one by one.
        """
        candidates = {
            partner_id
            for partner_id, state in accounts.items()
            if state is not None and state.auto_purchase_enabled
        }
        if not candidates:
            return {}
        trial = ChangeSet({p: accounts[p] for p in candidates}, now)
        due: dict[str, tuple[int, int]] = {}
        debited: set[tuple[str, str]] = set()
        for index, (mailing, credits_quote, charge_minor) in enumerate(priced):
            partner_id = mailing.partner_id
            pair = (partner_id, mailing.mailing_id)
            if partner_id not in candidates or partner_id in due or pair in debited:
                continue
            try:
                decision = self._debit(
                    trial.state(partner_id), mailing, credits_quote, charge_minor
                )
            except LedgerError:
                continue
            debited.add(pair)
            trial.decide(partner_id, decision.events, {}, decision.states)
            credits = auto_purchase_due(trial.state(partner_id), now)
            if credits is not None:
                due[partner_id] = (index, credits)
        if not due:
            return {}
        prices = await self.pricing.quote_batch(
            [
                QuoteItem(
                    _account(accounts, priced[i][0]).credit_price_list_id,
                    CREDITS_COMPONENT,
                    credits,
                    now,
                )
                for i, credits in due.values()
            ]
        )
        return {
            partner_id: (index, price)
            for (partner_id, (index, _)), price in zip(due.items(), prices, strict=True)
            # A price list that cannot price it is configuration trouble, not the mailings'
            # fault: the purchase waits for the next debit.
            if isinstance(price, PricedItem)
        }

    async def _price(
        self,
        mailings: list[Mailing],
        accounts: dict[str, PartnerAccount | None],
        reject: Callable[[IncomingRecord, str], None],
    ) -> list[tuple[Mailing, PricedItem, int | None]]:
        """Credits for every mailing; for on-demand partners also the money those credits cost."""
        quotes = await self.pricing.quote_batch(
            [
                QuoteItem(
                    _account(accounts, m).mailing_price_list_id,
                    MAILING_COMPONENT,
                    m.recipients,
                    m.sent_at,
                )
                for m in mailings
            ]
        )
        credited: list[tuple[Mailing, PricedItem]] = []
        for mailing, quote in zip(mailings, quotes, strict=True):
            if isinstance(quote, RejectedItem):
                reject(mailing.record, f"pricing refused the mailing: {quote.reason}")
            else:
                credited.append((mailing, quote))

        on_demand_partners = {
            partner_id
            for partner_id, account in accounts.items()
            if account is not None and account.billing_mode == "on_demand"
        }
        if not on_demand_partners:  # all prepaid: the credits are all there is to price
            return [(m, q, None) for m, q in credited]
        on_demand = [(m, q) for m, q in credited if m.partner_id in on_demand_partners]
        money = await self.pricing.quote_batch(
            [
                QuoteItem(
                    _account(accounts, m).credit_price_list_id,
                    CREDITS_COMPONENT,
                    _minor(q),
                    m.sent_at,
                )
                for m, q in on_demand
            ]
        )
        charges: dict[EventKey, int | None] = {}
        for (mailing, _), price in zip(on_demand, money, strict=True):
            if isinstance(price, RejectedItem):
                charges[mailing.event_key] = None
                reject(mailing.record, f"pricing refused the credits' price: {price.reason}")
            else:
                charges[mailing.event_key] = _minor(price)
        return [
            (m, q, charges.get(m.event_key))
            for m, q in credited
            if m.event_key not in charges or charges[m.event_key] is not None
        ]


def _account(accounts: dict[str, PartnerAccount | None], mailing: Mailing) -> PartnerAccount:
    account = accounts[mailing.partner_id]
    assert account is not None  # unknown partners were dead-lettered before pricing
    return account


def _parse(record: IncomingRecord) -> Mailing:
    event = decode_document(record.value, record.headers)
    if event["type"] != "mailing.sent":
        raise InvalidMessage(
            f"type {event['type']!r} does not belong on {MAILING_SENT.name}", "$.type"
        )
    data = event["data"]
    return Mailing(
        record=record,
        event_source=event["source"],
        event_id=event["id"],
        mailing_id=data["mailing_id"],
        partner_id=data["partner_id"],
        customer_id=data["customer_id"],
        # The schema allows 1200.0 (an integer to JSON Schema); the ledger counts in ints.
        recipients=int(data["recipients"]),
        sent_at=parse_time(data["sent_at"]),
        reservation_id=data.get("reservation_id"),
    )


def _metadata(mailing: Mailing) -> dict[str, Any]:
    # The price list and version are in the debit itself. The actor is the producer that
    # reported the mailing, named by its CloudEvents source: (actor, causation_id) is the
    # identity of the event that caused the debit. A debit is the most frequent row there is,
    # so its metadata says nothing twice.
    return {
        "causation_id": mailing.event_id,
        "correlation_id": mailing.mailing_id,
        "actor": mailing.event_source,
    }


def _debit_quote(mailing: Mailing, credits_quote: PricedItem) -> DebitQuote:
    return DebitQuote(
        price_list_id=credits_quote.price_list_id,
        price_list_version=credits_quote.price_list_version,
        component=MAILING_COMPONENT,
        quantity=mailing.recipients,
        quote=credits_quote.quote,
    )


def _quote_key(mailing: Mailing, credits_quote: PricedItem) -> tuple[str, int, str, int]:
    """The key of `_debit_quote(mailing, credits_quote)` in `debit_quotes`."""
    return (
        credits_quote.price_list_id,
        credits_quote.price_list_version,
        MAILING_COMPONENT,
        mailing.recipients,
    )


def request_auto_purchase(
    changes: ChangeSet, partner_id: str, price: PricedItem, now: datetime
) -> None:
    """Ask for the automatic purchase of the priced credits on the account as it stands."""
    state = changes.state(partner_id)
    assert state is not None
    purchase_id = auto_purchase_id(state)
    events = request_purchase(
        state,
        purchase_id=purchase_id,
        credits=int(price.quote["quantity"]),
        amount_minor=_minor(price),
        currency=price.currency,
        price_list_id=price.price_list_id,
        price_list_version=price.price_list_version,
        reason="auto",
        actor="auto-purchase",
        now=now,
    )
    changes.decide(
        partner_id,
        events,
        {
            "causation_id": f"{partner_id}/{state.version}",
            "correlation_id": purchase_id,
            "actor": "auto-purchase",
            "price_list_id": price.price_list_id,
            "price_list_version": price.price_list_version,
        },
    )
