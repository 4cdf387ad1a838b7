"""Kafka topics of the system and which message types travel on each.

Every message is a CloudEvent keyed by partner id, so one partner's messages stay in order on
one partition. Dead-letter topics carry the original bytes unchanged, with the reason in headers.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    message_types: tuple[str, ...]
    description: str
    partitions: int = 6


MAILING_SENT = Topic(
    "mailing.sent",
    ("mailing.sent",),
    "In: a mailing went out (published by the mailing platform).",
)
MAILING_SENT_DLQ = Topic(
    "mailing.sent.dlq",
    (),
    "Messages of mailing.sent the ledger could not process; reason in the dlq.reason header.",
    partitions=1,
)
PAYMENT_REQUESTS = Topic(
    "ledger.payment-requests",
    ("ledger.purchase_requested", "ledger.charge_requested"),
    "Out of the ledger: credit purchases (auto or manual) and on-demand charges to collect.",
)
NOTIFICATIONS = Topic(
    "ledger.notifications",
    (
        "ledger.low_balance_reached",
        "ledger.purchase_failed",
        "ledger.auto_purchase_suspended",
        "ledger.reservation_expired",
        "ledger.balance_threshold_crossed",
        "ledger.balance_recovered",
        "ledger.customer_budget_alert",
        "ledger.charge_failed",
        "ledger.purchase_returned",
        "ledger.charge_returned",
    ),
    "Out of the ledger: things a partner should be told about.",
)
STATEMENTS = Topic(
    "ledger.statements",
    ("ledger.statement_issued",),
    "Out of the ledger: statements issued to partners' customers (for their invoicing).",
)
PAYMENT_REQUESTS_DLQ = Topic(
    "ledger.payment-requests.dlq",
    (),
    "Payment requests the payment worker could not read; reason in the dlq.reason header.",
    partitions=1,
)
NOTIFICATIONS_DLQ = Topic(
    "ledger.notifications.dlq",
    (),
    "Notifications the notifier could not read; reason in the dlq.reason header.",
    partitions=1,
)
PAYMENT_RESULTS = Topic(
    "payments.results",
    ("payments.payment_result",),
    "Out of the payment worker, into the ledger: each payment's outcome.",
)
PAYMENT_RESULTS_DLQ = Topic(
    "payments.results.dlq",
    (),
    "Payment results the ledger could not process; reason in the dlq.reason header.",
    partitions=1,
)

ALL_TOPICS: tuple[Topic, ...] = (
    MAILING_SENT,
    MAILING_SENT_DLQ,
    PAYMENT_REQUESTS,
    PAYMENT_REQUESTS_DLQ,
    NOTIFICATIONS,
    NOTIFICATIONS_DLQ,
    STATEMENTS,
    PAYMENT_RESULTS,
    PAYMENT_RESULTS_DLQ,
)

# Header names on dead letters; the value is the original message, byte for byte.
DLQ_REASON_HEADER = "dlq.reason"
DLQ_SOURCE_HEADER = "dlq.source"  # "topic/partition/offset" of the original


def topic_for_type(message_type: str) -> Topic:
    """The topic a message type is published on."""
    for topic in ALL_TOPICS:
        if message_type in topic.message_types:
            return topic
    raise KeyError(f"no topic carries messages of type {message_type!r}")
