"""Signed webhooks on the real stack: the ledger's API, consumers, relay and webhook worker in
this process, PostgreSQL and Kafka of `make up`, and a real HTTP receiver on a free port that
verifies what arrives with the `standardwebhooks` package, as a partner's portal would."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from ledger.adapters.webhook_sender import HttpWebhookSender, UrlPolicy
from ledger.api.app import create_app
from ledger.domain.webhooks import AddressPolicy
from ledger.service_layer.ports import DueWebhook
from ledger.service_layer.webhooks import new_secret
from ledger.settings import LedgerSettings
from ledger.webhook_worker import run_webhooks
from tests.integration.conftest import OPS_TOKEN, free_port
from tests.integration.ledger.conftest import (
    Publish,
    balance,
    eventually,
    new_partner,
    read_topic,
)
from tests.support.clients import app_client
from tests.support.messages import mailing_sent


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # None: held longer than the sender waits (paths under /slow/)


@dataclass
class Receiver:
    """A partner's portal: answers 500 to the first request of each `webhook-id` on paths
    under /flaky/, holds requests on paths under /slow/ for `slow_seconds` (longer than the
    worker waits) before its 204, answers 204 to everything else, and keeps every request."""

    port: int
    slow_seconds: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


@pytest.fixture(scope="module")
def receiver(webhook_settings: LedgerSettings) -> Iterator[Receiver]:
    state = Receiver(free_port(), slow_seconds=webhook_settings.webhook_timeout_seconds + 2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path.startswith("/slow/"):
                with state.lock:
                    state.requests.append(Received(self.path, headers, body, None))
                time.sleep(state.slow_seconds)
                try:  # the sender gave up long ago: nobody reads this answer
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass
                return
            with state.lock:
                seen = any(
                    r.headers.get("webhook-id") == headers.get("webhook-id") for r in state.requests
                )
                status = 500 if self.path.startswith("/flaky/") and not seen else 204
                state.requests.append(Received(self.path, headers, body, status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def webhook_settings(ledger_settings: LedgerSettings) -> LedgerSettings:
    """The local stack's rules: loopback and plain http allowed."""
    return ledger_settings.model_copy(
        update={
            "webhook_allow_loopback_urls": True,
            "webhook_allow_http": True,
            "webhook_poll_seconds": 0.1,
            "webhook_timeout_seconds": 5.0,
            "webhook_metrics_port": 0,
        }
    )


@pytest.fixture(scope="module")
async def api(webhook_settings: LedgerSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(webhook_settings)
    async with app_client(app, OPS_TOKEN) as client:
        yield client


@pytest.fixture(scope="module")
async def webhook_worker(
    webhook_settings: LedgerSettings, ledger_workers: None
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_webhooks(webhook_settings, stop))
    yield
    stop.set()
    await task


async def register(
    api: httpx.AsyncClient, partner_id: str, token: str, url: str, **extra: Any
) -> dict[str, Any]:
    response = await api.post(
        f"/v1/partners/{partner_id}/webhook-endpoints",
        json={"url": url, **extra},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def buy(api: httpx.AsyncClient, partner_id: str, token: str, key: str) -> None:
    response = await api.post(
        f"/v1/partners/{partner_id}/purchases",
        json={"credits": 20000},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
    )
    assert response.status_code == 202, response.text


async def deliveries(
    api: httpx.AsyncClient, partner_id: str, endpoint_id: str
) -> list[dict[str, Any]]:
    response = await api.get(
        f"/v1/partners/{partner_id}/webhook-endpoints/{endpoint_id}/deliveries"
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def test_a_webhook_arrives_signed_is_retried_with_the_same_id_and_is_logged(
    api: httpx.AsyncClient, receiver: Receiver, webhook_worker: None
) -> None:
    partner_id, token = await new_partner(api)
    endpoint = await register(api, partner_id, token, receiver.url(f"/flaky/{partner_id}"))
    assert endpoint["secret"].startswith("whsec_")
    listed = await api.get(
        f"/v1/partners/{partner_id}/webhook-endpoints",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert [e["id"] for e in listed.json()["endpoints"]] == [endpoint["id"]]
    assert "secret" not in listed.json()["endpoints"][0]
    assert endpoint["secret"] not in listed.text

    await buy(api, partner_id, token, "buy-1")

    async def delivered_after_a_retry() -> bool:
        return len(receiver.at(f"/flaky/{partner_id}")) >= 2

    await eventually(delivered_after_a_retry, timeout=30, what="a retry after the 500")
    first, second = receiver.at(f"/flaky/{partner_id}")[:2]
    assert (first.status, second.status) == (500, 204)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["content-type"] == "application/json"
    hook = Webhook(endpoint["secret"])
    for request in (first, second):
        payload = hook.verify(request.body, request.headers)
        assert payload["type"] == "ledger.purchase_requested"
        assert payload["partner_id"] == partner_id
        assert payload["data"]["credits"] == 20000
        assert payload["sequence"] == 1
        assert payload["id"] == f"{partner_id}/{payload['stream_version']}"
    # Another endpoint's secret does not verify it.
    other = Webhook("whsec_" + "A" * 44)
    with pytest.raises(Exception, match="signature"):
        other.verify(second.body, second.headers)

    # The partner's event history has the event at that stream version.
    history = await api.get(f"/v1/partners/{partner_id}/events")
    at_version = [e for e in history.json()["events"] if e["version"] == payload["stream_version"]]
    assert [e["type"] for e in at_version] == ["PurchaseRequested"]

    async def logged() -> bool:
        found = await deliveries(api, partner_id, endpoint["id"])
        return bool(found) and found[0]["status"] == "delivered"

    await eventually(logged, what="the delivery logged as delivered")
    [logged_delivery] = await deliveries(api, partner_id, endpoint["id"])
    assert logged_delivery["id"] == first.headers["webhook-id"]
    assert logged_delivery["event_type"] == "ledger.purchase_requested"
    assert logged_delivery["attempts"] == 2
    assert logged_delivery["last_status_code"] == 204
    assert logged_delivery["delivered_at"] is not None
    assert [a["status_code"] for a in logged_delivery["attempt_log"]] == [500, 204]

    # A re-send by hand: the same webhook-id again, signed anew.
    resent = await api.post(
        f"/v1/partners/{partner_id}/webhook-endpoints/{endpoint['id']}/deliveries/"
        f"{logged_delivery['id']}/resend",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resent.status_code == 202, resent.text

    async def arrived_again() -> bool:
        return len(receiver.at(f"/flaky/{partner_id}")) >= 3

    await eventually(arrived_again, what="the re-sent webhook")
    third = receiver.at(f"/flaky/{partner_id}")[2]
    assert third.headers["webhook-id"] == first.headers["webhook-id"]
    assert hook.verify(third.body, third.headers)["id"] == payload["id"]


async def test_a_slow_endpoint_blocks_no_ingest_and_its_timeout_is_retried(
    api: httpx.AsyncClient,
    receiver: Receiver,
    webhook_worker: None,
    webhook_settings: LedgerSettings,
    publish: Publish,
) -> None:
    """The real sender against a receiver that holds the request longer than the worker's
    timeout: a mailing is debited while that attempt hangs, and the attempt is logged as no
    answer and tried again later."""
    partner_id, token = await new_partner(api)
    path = f"/slow/{partner_id}"
    endpoint = await register(api, partner_id, token, receiver.url(path))
    auth = {"Authorization": f"Bearer {token}"}
    await buy(api, partner_id, token, "buy-1")

    async def in_flight() -> bool:
        return bool(receiver.at(path))

    await eventually(in_flight, timeout=30, what="the attempt at the slow endpoint")
    # 2,000 recipients cost 2,100 credits; the partner has none yet (a debit is a fact).
    await publish("mailing.sent", mailing_sent(partner_id, "c1", 2_000), partner_id)

    async def debited() -> bool:
        return bool((await balance(api, partner_id))["balance"] == -2_100)

    await eventually(debited, what="the debit while the webhook hangs")
    [pending] = await deliveries(api, partner_id, endpoint["id"])
    assert (pending["status"], pending["delivered_at"]) == ("pending", None)

    async def timed_out() -> bool:
        found = await deliveries(api, partner_id, endpoint["id"])
        return bool(found and found[0]["attempt_log"])

    timeout = webhook_settings.webhook_timeout_seconds
    await eventually(timed_out, timeout=timeout + 20, what="the attempt given up on")
    [logged] = await deliveries(api, partner_id, endpoint["id"])
    first = logged["attempt_log"][0]
    assert (first["attempt"], first["status_code"]) == (1, None)
    assert first["error"] == f"no answer within {timeout:g} s"
    assert first["duration_ms"] >= timeout * 1000
    assert logged["status"] == "pending" and logged["delivered_at"] is None
    assert logged["next_attempt_at"] is not None
    attempted_at = datetime.fromisoformat(first["attempted_at"])
    assert datetime.fromisoformat(logged["next_attempt_at"]) > attempted_at
    # The debit was recorded before the hanging attempt ended: ingest did not wait for it.
    history = (await api.get(f"/v1/partners/{partner_id}/events", headers=auth)).json()
    [debit] = [e for e in history["events"] if e["type"] == "MailingDebited"]
    assert datetime.fromisoformat(debit["recorded_at"]) < attempted_at
    assert [r.status for r in receiver.at(path)][:1] == [None]

    off = await api.post(
        f"/v1/partners/{partner_id}/webhook-endpoints/{endpoint['id']}/disable", headers=auth
    )
    assert off.status_code == 200, off.text


async def test_filters_disabled_endpoints_and_kafka_redelivery(
    api: httpx.AsyncClient,
    receiver: Receiver,
    webhook_worker: None,
    webhook_settings: LedgerSettings,
    producer: Any,
) -> None:
    partner_id, token = await new_partner(api)
    every = await register(api, partner_id, token, receiver.url(f"/all/{partner_id}"))
    wanted = await register(
        api,
        partner_id,
        token,
        receiver.url(f"/purchases/{partner_id}"),
        event_types=["ledger.purchase_requested"],
    )
    unwanted = await register(
        api,
        partner_id,
        token,
        receiver.url(f"/statements/{partner_id}"),
        event_types=["ledger.statement_issued"],
    )
    disabled = await register(api, partner_id, token, receiver.url(f"/off/{partner_id}"))
    off = await api.post(
        f"/v1/partners/{partner_id}/webhook-endpoints/{disabled['id']}/disable",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert off.status_code == 200 and off.json()["enabled"] is False

    await buy(api, partner_id, token, "buy-1")

    async def both_delivered() -> bool:
        return bool(receiver.at(f"/all/{partner_id}")) and bool(
            receiver.at(f"/purchases/{partner_id}")
        )

    await eventually(both_delivered, what="deliveries to the two endpoints that want them")

    # Kafka delivers the same message again (a producer retry, a replayed topic).
    [(headers, value)] = await read_topic(
        webhook_settings, "ledger.payment-requests", key=partner_id
    )
    await producer.send_and_wait(
        webhook_settings.topic_prefix + "ledger.payment-requests",
        value=value,
        key=partner_id.encode(),
        headers=list(headers.items()),
    )
    # A later message on the same partition: once it is delivered, the copy was read before it.
    await buy(api, partner_id, token, "buy-2")

    async def second_delivered() -> bool:
        return len(receiver.at(f"/all/{partner_id}")) >= 2

    await eventually(second_delivered, what="the second purchase delivered")
    await asyncio.sleep(0.5)
    every_log = await deliveries(api, partner_id, every["id"])
    assert [d["sequence"] for d in every_log] == [2, 1]
    assert len({d["message_id"] for d in every_log}) == 2
    assert len(receiver.at(f"/all/{partner_id}")) == 2
    assert len(await deliveries(api, partner_id, wanted["id"])) == 2
    assert await deliveries(api, partner_id, unwanted["id"]) == []
    assert await deliveries(api, partner_id, disabled["id"]) == []
    assert receiver.at(f"/statements/{partner_id}") == []
    assert receiver.at(f"/off/{partner_id}") == []


async def test_a_partner_cannot_reach_another_partners_endpoints(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner, owner_token = await new_partner(api)
    intruder, intruder_token = await new_partner(api)
    endpoint = await register(api, owner, owner_token, receiver.url("/owner"))
    as_intruder = {"Authorization": f"Bearer {intruder_token}"}
    base = f"/v1/partners/{owner}/webhook-endpoints"

    refused = await api.post(base, json={"url": receiver.url("/steal")}, headers=as_intruder)
    assert refused.status_code == 404
    assert (await api.get(base, headers=as_intruder)).status_code == 404
    for path in ("/disable", "/rotate-secret"):
        answer = await api.post(f"{base}/{endpoint['id']}{path}", headers=as_intruder)
        assert answer.status_code == 404
    assert (
        await api.get(f"{base}/{endpoint['id']}/deliveries", headers=as_intruder)
    ).status_code == 404
    # Nor through its own partner's path.
    own_path = f"/v1/partners/{intruder}/webhook-endpoints/{endpoint['id']}/deliveries"
    assert (await api.get(own_path, headers=as_intruder)).status_code == 404
    [kept] = (await api.get(base, headers={"Authorization": f"Bearer {owner_token}"})).json()[
        "endpoints"
    ]
    assert kept["enabled"] is True


async def test_registration_validates_types_and_rotation_keeps_the_old_secret_for_a_while(
    api: httpx.AsyncClient, receiver: Receiver, webhook_worker: None
) -> None:
    partner_id, token = await new_partner(api)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/v1/partners/{partner_id}/webhook-endpoints"
    unknown = await api.post(
        base,
        json={"url": receiver.url("/x"), "event_types": ["ledger.purchase_requested", "nope"]},
        headers=auth,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "$.event_types[1]"
    missing = await api.post(
        "/v1/partners/no-such-partner/webhook-endpoints", json={"url": receiver.url("/x")}
    )
    assert missing.status_code == 404

    path = f"/rotating/{partner_id}"
    endpoint = await register(api, partner_id, token, receiver.url(path))
    rotated = await api.post(f"{base}/{endpoint['id']}/rotate-secret", headers=auth)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != endpoint["secret"]
    expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert (expires - datetime.now(UTC)).total_seconds() > 23 * 3600
    assert new_secret not in (await api.get(base, headers=auth)).text

    # A webhook during the grace carries both signatures; each verifies with its own secret.
    await buy(api, partner_id, token, "buy-after-rotation")

    async def arrived() -> bool:
        return bool(receiver.at(path))

    await eventually(arrived, timeout=30, what="a webhook after the rotation")
    [request] = receiver.at(path)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    verified_by = []
    for secret in (endpoint["secret"], new_secret):
        hook = Webhook(secret)
        assert hook.verify(request.body, request.headers)["type"] == "ledger.purchase_requested"
        alone = []
        for signature in signatures:
            try:
                hook.verify(request.body, {**request.headers, "webhook-signature": signature})
            except WebhookVerificationError:
                continue
            alone.append(signature)
        verified_by += alone
    assert sorted(verified_by) == sorted(signatures)  # one signature each, none shared


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hook", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://localhost/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://user:pw@93.184.215.14/hook", "credentials"),
        ("ftp://93.184.215.14/hook", "https"),
    ],
)
async def test_the_url_guard_refuses_internal_networks_unless_allowed(
    ledger_api: httpx.AsyncClient, url: str, reason: str
) -> None:
    # `ledger_api` runs with the production rules: no loopback, private networks nor http.
    partner_id, _ = await new_partner(ledger_api)
    answer = await ledger_api.post(
        f"/v1/partners/{partner_id}/webhook-endpoints", json={"url": url}
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["errors"][0]["field"] == "$.url"
    assert reason in problem["detail"]


def due(url: str) -> DueWebhook:
    """A delivery claimed for its first attempt, as the sender gets it."""
    body = orjson.dumps({"type": "ledger.purchase_requested"}).decode()
    return DueWebhook("msg_t", "ep_t", url, (new_secret(),), body, 1, 1, datetime.now(UTC))


async def test_the_guard_runs_again_at_delivery_time(receiver: Receiver) -> None:
    """An endpoint registered while allowed (or whose name now resolves elsewhere) is checked
    again before each attempt: nothing is sent to a refused address."""
    strict = UrlPolicy(AddressPolicy(allow_private=True, allow_loopback=False), allow_http=True)
    async with httpx.AsyncClient(follow_redirects=False) as http:
        sender = HttpWebhookSender(http, strict, timeout_seconds=5)
        answer = await sender.send(due(receiver.url("/guarded")), datetime.now(UTC))
    assert answer.refused and answer.status_code is None
    assert answer.error is not None and "loopback" in answer.error
    assert receiver.at("/guarded") == []


async def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    """A 3xx is the answer (failed, not retried); the Location is never requested."""
    loose = UrlPolicy(AddressPolicy(allow_loopback=True), allow_http=True)

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("location", receiver.url("/redirected"))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            sender = HttpWebhookSender(http, loose, timeout_seconds=5)
            answer = await sender.send(due(f"http://127.0.0.1:{port}/hook"), datetime.now(UTC))
    finally:
        server.shutdown()
        thread.join()
    assert answer.status_code == 307
    assert receiver.at("/redirected") == []
