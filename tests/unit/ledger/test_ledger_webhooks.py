"""Webhook rules without I/O: the retry schedule, answers, the address guard, signatures (checked
with the `standardwebhooks` package, as a partner verifies them), and the intake and one attempt
of the service layer on in-memory fakes."""

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from ledger.adapters.webhook_sender import sign, signature_header
from ledger.domain.webhooks import (
    JITTER,
    MAX_RETRY_SECONDS,
    RETRY_HORIZON,
    AddressPolicy,
    after_attempt,
    refused_address,
    retry_delay_seconds,
    verdict,
)
from ledger.service_layer.ports import (
    DueWebhook,
    NewWebhookDelivery,
    WebhookAnswer,
    WebhookTarget,
)
from ledger.service_layer.webhooks import (
    WEBHOOK_EVENT_TYPES,
    attempt_delivery,
    new_secret,
    record_deliveries,
)
from shared.envelope import CloudEvent

T0 = datetime(2026, 12, 1, tzinfo=UTC)
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


# --- the retry schedule -------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=200), jitters)
def test_every_wait_is_bounded(failed: int, jitter: float) -> None:
    delay = retry_delay_seconds(failed, jitter)
    assert 0 < delay <= MAX_RETRY_SECONDS * (1 + JITTER)


@given(st.integers(min_value=1, max_value=50), jitters, jitters)
def test_waits_grow_until_the_cap_whatever_the_jitter(failed: int, a: float, b: float) -> None:
    this, following = retry_delay_seconds(failed, a), retry_delay_seconds(failed + 1, b)
    if following < MAX_RETRY_SECONDS * (1 - JITTER):  # both below the cap
        assert following > this


@given(st.lists(jitters, min_size=40, max_size=40))
def test_a_receiver_that_never_answers_is_tried_for_three_days_then_given_up(
    draws: list[float],
) -> None:
    now, failed = T0, 0
    while True:
        failed += 1
        step = after_attempt(None, failed, now, T0, draws[failed - 1])
        if step.verdict == "failed":
            break
        assert step.verdict == "retry" and step.at is not None and step.at > now
        now = step.at
    # The last attempt falls within the horizon, and no longest wait short of it.
    assert T0 + RETRY_HORIZON - timedelta(seconds=MAX_RETRY_SECONDS * (1 + JITTER)) < now
    assert now <= T0 + RETRY_HORIZON
    assert 10 <= failed <= 20


def test_the_first_waits_are_seconds_then_minutes() -> None:
    middle = [retry_delay_seconds(n, 0.5) for n in range(1, 9)]
    assert middle == [5, 20, 80, 320, 1280, 5120, 20480, MAX_RETRY_SECONDS]


def test_retry_after_lengthens_a_wait_but_never_beyond_the_longest() -> None:
    step = after_attempt(503, 1, T0, T0, 0.5, retry_after_seconds=120)
    assert step.at == T0 + timedelta(seconds=120)
    capped = after_attempt(429, 1, T0, T0, 0.5, retry_after_seconds=10**9)
    assert capped.at == T0 + timedelta(seconds=MAX_RETRY_SECONDS)
    shorter = after_attempt(503, 3, T0, T0, 0.5, retry_after_seconds=1)
    assert shorter.at == T0 + timedelta(seconds=80)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (None, "retry"),
        (500, "retry"),
        (503, "retry"),
        (429, "retry"),
        (400, "failed"),
        (404, "failed"),
        (410, "failed"),
        (301, "failed"),
        (307, "failed"),
    ],
)
def test_what_an_answer_means(status: int | None, expected: str) -> None:
    assert verdict(status) == expected


# --- the address guard ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "refused_as"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        # 6to4 and Teredo carry an IPv4 address; it is the one judged.
        ("2002:7f00:1::1", "loopback"),
        ("2002:a00:1::1", "private"),
        ("2002:a9fe:a9fe::1", "link-local"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),
        ("2002:5db8:d70e::1", None),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("93.184.215.14", None),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
    ],
)
def test_which_addresses_are_refused(address: str, refused_as: str | None) -> None:
    reason = refused_address(address, AddressPolicy())
    assert (reason is None) == (refused_as is None)
    if refused_as is not None:
        assert reason is not None and refused_as in reason


def test_settings_open_loopback_and_private_but_never_link_local() -> None:
    loose = AddressPolicy(allow_private=True, allow_loopback=True)
    assert refused_address("127.0.0.1", loose) is None
    assert refused_address("10.0.0.1", loose) is None
    assert refused_address("127.0.0.1", AddressPolicy(allow_private=True)) is not None
    assert refused_address("10.0.0.1", AddressPolicy(allow_loopback=True)) is not None
    assert refused_address("169.254.169.254", loose) is not None
    # Private networks allowed do not open loopback through a tunnel address.
    private_only = AddressPolicy(allow_private=True)
    for tunnelled in ("::ffff:127.0.0.1", "2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:80ff:fffe"):
        assert refused_address(tunnelled, private_only) == "a loopback address"


# --- signatures ---------------------------------------------------------------------------------


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


@given(st.text(max_size=200), st.integers(min_value=0, max_value=2**32))
def test_our_signature_is_the_standard_webhooks_signature(body: str, timestamp: int) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(timestamp, UTC), body)
    assert sign(secret, "msg_1", timestamp, body) == expected


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = '{"type":"ledger.low_balance_reached"}'
    now = int(datetime.now(UTC).timestamp())
    header = signature_header((new, old), "msg_2", now, body)
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(now), "webhook-signature": header}
    assert len(header.split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "ledger.low_balance_reached"}
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body, headers)


# --- the intake and one attempt, on fakes ------------------------------------------------------


class FakeIntake:
    def __init__(self, targets: list[WebhookTarget]) -> None:
        self._targets = targets
        self.deliveries: list[NewWebhookDelivery] = []
        self.sequences: dict[str, int] = {}

    async def targets(self, partner_ids: Sequence[str]) -> list[WebhookTarget]:
        return [t for t in self._targets if t.partner_id in partner_ids]

    async def recorded(self, keys: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        have = {(d.endpoint_id, d.message_source, d.message_id) for d in self.deliveries}
        return have & set(keys)

    async def reserve_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        first = {}
        for endpoint, n in counts.items():
            first[endpoint] = self.sequences.get(endpoint, 1)
            self.sequences[endpoint] = first[endpoint] + n
        return first

    async def add(self, deliveries: Sequence[NewWebhookDelivery], now: datetime) -> int:
        self.deliveries += deliveries
        return len(deliveries)


def message(partner: str, version: int, type_: str = "ledger.purchase_requested") -> CloudEvent:
    return CloudEvent.new(
        type_,
        "/ledger",
        {"partner_id": partner},
        subject=partner,
        id=f"{partner}/{version}",
        time=T0 + timedelta(minutes=version),
    )


async def test_each_endpoint_gets_its_partners_wanted_messages_once_in_sequence() -> None:
    everything = WebhookTarget("ep_all", "p1", None, T0)
    statements = WebhookTarget("ep_st", "p1", frozenset({"ledger.statement_issued"}), T0)
    later = WebhookTarget("ep_late", "p1", None, T0 + timedelta(minutes=5))
    other = WebhookTarget("ep_p2", "p2", None, T0)
    intake = FakeIntake([everything, statements, later, other])
    batch = [message("p1", 3), message("p1", 7, "ledger.statement_issued"), message("p3", 1)]

    assert await record_deliveries(intake, batch, T0) == 4
    assert await record_deliveries(intake, batch, T0) == 0  # redelivered: nothing new
    got = {(d.endpoint_id, d.message_id, d.sequence, d.stream_version) for d in intake.deliveries}
    assert got == {
        ("ep_all", "p1/3", 1, 3),
        ("ep_all", "p1/7", 2, 7),
        ("ep_st", "p1/7", 1, 7),
        ("ep_late", "p1/7", 1, 7),  # registered after p1/3 happened
    }
    assert len({d.webhook_id for d in intake.deliveries}) == 4
    assert "ledger.purchase_requested" in WEBHOOK_EVENT_TYPES


class FakeDeliveries:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, datetime | None, bool]] = []

    async def claim_due(
        self, now: datetime, limit: int, busy_endpoints: object
    ) -> list[DueWebhook]:
        return []

    async def record_attempt(
        self,
        delivery: DueWebhook,
        answer: WebhookAnswer,
        attempted_at: datetime,
        status: str,
        next_attempt_at: datetime | None,
        disable_endpoint: bool,
    ) -> None:
        self.recorded.append((status, next_attempt_at, disable_endpoint))


class FakeSender:
    def __init__(self, answer: WebhookAnswer) -> None:
        self.answer = answer

    async def send(self, delivery: DueWebhook, now: datetime) -> WebhookAnswer:
        return self.answer


DUE = DueWebhook("msg_1", "ep_1", "https://portal.example/hook", ("whsec_x",), "{}", 1, 1, T0)


@pytest.mark.parametrize(
    ("answer", "status", "retried", "disabled"),
    [
        (WebhookAnswer(204, None, 5), "delivered", False, False),
        (WebhookAnswer(500, None, 5), "pending", True, False),
        (WebhookAnswer(None, "no answer within 15 s", 15000), "pending", True, False),
        (WebhookAnswer(400, None, 5), "failed", False, False),
        (WebhookAnswer(410, None, 5), "failed", False, True),
        (WebhookAnswer(None, "not sent: loopback", 1, refused=True), "failed", False, False),
    ],
)
async def test_one_attempt_records_what_follows(
    answer: WebhookAnswer, status: str, retried: bool, disabled: bool
) -> None:
    store = FakeDeliveries()
    await attempt_delivery(store, FakeSender(answer), DUE, lambda: T0, lambda: 0.5)
    [(recorded_status, next_at, disable)] = store.recorded
    assert recorded_status == status
    assert (next_at == T0 + timedelta(seconds=5)) if retried else next_at is None
    assert disable is disabled
