"""Rules of webhook deliveries to partner portals: which answers count, when to try again,
and which network addresses a webhook may never be sent to.

Pure: the caller brings the clock and the randomness (`jitter` in [0, 1)).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

# A delivery is retried for this long after it was recorded (or re-sent by hand), then failed.
RETRY_HORIZON = timedelta(days=3)
FIRST_RETRY_SECONDS = 5.0
GROWTH = 4.0
# No wait is longer than this (before jitter): a receiver back after an outage hears soon.
MAX_RETRY_SECONDS = 8 * 3600.0
# Each wait is scaled by a factor in [1 - JITTER, 1 + JITTER), so that the retries of many
# deliveries failed together do not come back together. With GROWTH 4, every wait before the
# cap is still longer than the one before, whatever the jitter.
JITTER = 0.2

Verdict = Literal["delivered", "retry", "failed"]


def retry_delay_seconds(failed_attempts: int, jitter: float) -> float:
    """The wait after the `failed_attempts`-th failed attempt (1 after the first):
    5 s, 20 s, 80 s, 5 min 20 s, 21 min, 85 min, 5.7 h, then 8 h, each +-20 %."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts starts at 1")
    if not 0.0 <= jitter < 1.0:
        raise ValueError("jitter is in [0, 1)")
    nominal = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * GROWTH ** min(failed_attempts - 1, 30))
    return nominal * (1.0 - JITTER + 2.0 * JITTER * jitter)


def verdict(status_code: int | None) -> Verdict:
    """What an attempt's answer means. None: no answer (timeout, connection refused or reset).

    2xx is delivered. No answer, 5xx and 429 (too many requests) are tried again. Anything
    else is failed at once: a 4xx says the receiver will not take this request however often
    it comes, and a 3xx is not followed (the partner should register the new URL instead)."""
    if status_code is None or status_code >= 500 or status_code == 429:
        return "retry"
    if 200 <= status_code < 300:
        return "delivered"
    return "failed"


def gone(status_code: int | None) -> bool:
    """410 Gone: the receiver wants no more webhooks; the endpoint is disabled."""
    return status_code == 410


@dataclass(frozen=True, slots=True)
class NextAttempt:
    verdict: Verdict
    at: datetime | None  # when to try again (for "retry")


def after_attempt(
    status_code: int | None,
    failed_attempts: int,
    now: datetime,
    window_started_at: datetime,
    jitter: float,
    retry_after_seconds: float | None = None,
) -> NextAttempt:
    """The delivery's next step after an attempt. A retry that would fall after the horizon
    fails the delivery instead; a receiver's `Retry-After` lengthens (never shortens) the wait,
    up to the longest wait."""
    outcome = verdict(status_code)
    if outcome != "retry":
        return NextAttempt(outcome, None)
    delay = retry_delay_seconds(failed_attempts, jitter)
    if retry_after_seconds is not None and retry_after_seconds > delay:
        delay = min(retry_after_seconds, MAX_RETRY_SECONDS)
    at = now + timedelta(seconds=delay)
    if at > window_started_at + RETRY_HORIZON:
        return NextAttempt("failed", None)
    return NextAttempt("retry", at)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which networks a webhook may reach besides the public internet."""

    allow_private: bool = False  # private, link-local, shared (CGNAT), unique-local ranges
    allow_loopback: bool = False  # 127.0.0.0/8, ::1 (the local stack)


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches through a translation or a tunnel: IPv4-mapped
    (``::ffff:127.0.0.1``), 6to4 (``2002:7f00:1::1``) or Teredo (its client address)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def refused_address(address: str, policy: AddressPolicy) -> str | None:
    """Why a webhook may not be sent to this IP address; None if it may. An IPv6 address that
    carries an IPv4 one is judged by the IPv4 address (2002:7f00:1::1 is 127.0.0.1)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _carried_ipv4(ip) or ip
    if ip.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        # 169.254.169.254 is where clouds answer with credentials: never, even if private is ok.
        return "a link-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return None if policy.allow_private else "a private address"
    return None
