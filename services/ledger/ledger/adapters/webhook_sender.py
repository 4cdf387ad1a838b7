"""Sending webhooks: the URL guard (SSRF), Standard Webhooks signatures, one POST per attempt.

The guard runs when an endpoint is registered and again before every attempt, on the
addresses the host resolves to at that moment; the request then goes to the address that was
checked (the host name stays in `Host` and in TLS's SNI and certificate check), so a DNS
answer that changes between the check and the connection (DNS rebinding) reaches nothing new.
Redirects are never followed.
"""

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx

from ledger.domain.webhooks import AddressPolicy, refused_address
from ledger.service_layer.ports import DueWebhook, WebhookAnswer

MAX_URL_LENGTH = 2000
USER_AGENT = "mailbill-webhooks/1"


class UrlRefused(ValueError):
    """The URL may not be a webhook endpoint; the message says why."""


class UnresolvedHost(OSError):
    """The host name does not resolve (now)."""


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    addresses: AddressPolicy
    allow_http: bool = False  # plain http (the local stack only)
    dns_timeout_seconds: float = 2.0


def parsed_url(url: str, policy: UrlPolicy) -> httpx.URL:
    """The URL if its shape may be an endpoint: https (http only where allowed), a host, no
    credentials, no fragment."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlRefused(f"not a URL ({exc})") from None
    if parsed.scheme not in ("https", "http"):
        raise UrlRefused("must be an https URL")
    if parsed.scheme == "http" and not policy.allow_http:
        raise UrlRefused("must be https (plain http is allowed on the local stack only)")
    if not parsed.host:
        raise UrlRefused("has no host")
    if parsed.userinfo:
        raise UrlRefused("must not carry credentials")
    if parsed.fragment:
        raise UrlRefused("must not have a fragment")
    return parsed


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


async def resolve(host: str, port: int, timeout: float) -> list[str]:
    """The host's addresses now (an IP literal is its own); `UnresolvedHost` when none."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=timeout
        )
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise UnresolvedHost(f"{host} does not resolve ({type(exc).__name__})") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not addresses:
        raise UnresolvedHost(f"{host} does not resolve")
    return addresses


async def checked_addresses(url: httpx.URL, policy: UrlPolicy) -> list[str]:
    """The addresses the URL's host resolves to, all of them allowed; `UrlRefused` if one is
    not (a name that resolves to a public and a private address is refused as a whole)."""
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve(url.host, port, policy.dns_timeout_seconds)
    for address in addresses:
        reason = refused_address(address, policy.addresses)
        if reason is not None:
            raise UrlRefused(f"{url.host} resolves to {reason} ({address})")
    return addresses


async def check_url(url: str, policy: UrlPolicy) -> None:
    """`UrlRefused` (or `UnresolvedHost`) unless a webhook may be sent to `url` now."""
    await checked_addresses(parsed_url(url, policy), policy)


def sign(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the secret's bytes
    (base64 after `whsec_`), as Standard Webhooks defines it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Sequence[str], webhook_id: str, timestamp: int, body: str) -> str:
    """One signature per valid secret, space-separated (both during a rotation's grace)."""
    return " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _pinned(url: httpx.URL, address: str) -> httpx.URL:
    return url.copy_with(host=address)


class HttpWebhookSender:
    """`WebhookSender` over httpx. The client must not follow redirects (bootstrap builds it
    so); `timeout_seconds` bounds a whole attempt, connection to status line."""

    def __init__(self, http: httpx.AsyncClient, policy: UrlPolicy, timeout_seconds: float) -> None:
        self._http = http
        self._policy = policy
        self._timeout = timeout_seconds

    async def send(self, delivery: DueWebhook, now: datetime) -> WebhookAnswer:
        started = time.perf_counter()

        def elapsed_ms() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            url = parsed_url(delivery.url, self._policy)
            addresses = await checked_addresses(url, self._policy)
        except UrlRefused as exc:
            return WebhookAnswer(None, f"not sent: the URL {exc}", elapsed_ms(), refused=True)
        except UnresolvedHost as exc:
            return WebhookAnswer(None, str(exc), elapsed_ms())
        timestamp = int(now.timestamp())
        headers = {
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                delivery.secrets, delivery.webhook_id, timestamp, delivery.body
            ),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": url.netloc.decode("ascii"),
        }
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http.stream(
                    "POST",
                    _pinned(url, addresses[0]),
                    content=delivery.body.encode(),
                    headers=headers,
                    extensions=extensions,
                ) as response:
                    # The status is the answer; the body is never read (it may be large).
                    return WebhookAnswer(
                        response.status_code,
                        None,
                        elapsed_ms(),
                        retry_after_seconds=_retry_after(response),
                    )
        except (TimeoutError, httpx.TimeoutException):
            return WebhookAnswer(None, f"no answer within {self._timeout:g} s", elapsed_ms())
        except httpx.HTTPError as exc:
            return WebhookAnswer(None, f"{type(exc).__name__}: {exc}"[:500], elapsed_ms())
