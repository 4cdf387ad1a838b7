"""A local Stripe API for the tests and `make run`: localstripe, with three gaps closed.

`localstripe` (a dev dependency, so `uv sync` installs it) is stateful: customers, payment
methods, PaymentIntents confirmed off session, card declines (4000000000000341), cards that
want authentication (4000000000003220), SEPA debits that settle later (the IBAN
DE62370400440532013001 fails) and signed webhooks. This launcher adds what the payment worker
relies on and real Stripe does:
- `Idempotency-Key`: the first answer is replayed for the same key (and a different request
  with a used key is refused), as Stripe does for 24 hours;
- the `customer` and `created` filters of `GET /v1/payment_intents` (the worker's lookup);
- no state file: localstripe writes /tmp/localstripe.pickle on every change, which parallel
  servers would clobber.

    python -m devtools.stripe_server --port 8420

`LocalStripe` starts it as a subprocess on a free port for a test session.
"""

import argparse
import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx


def _patch_localstripe() -> Any:
    """Import localstripe and close the gaps; returns its aiohttp app."""
    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None

    original_list = resources.StripeObject._api_list_all.__func__

    def list_payment_intents(
        cls: Any, /, url: str, customer: str | None = None, created: Any = None, **kwargs: Any
    ) -> Any:
        listed = original_list(cls, url, **kwargs)
        if customer is not None:
            listed._list = [pi for pi in listed._list if pi.customer == customer]
        if isinstance(created, dict) and "gte" in created:
            listed._list = [pi for pi in listed._list if pi.created >= int(created["gte"])]
        listed._list.sort(key=lambda pi: pi.created, reverse=True)
        return listed

    resources.PaymentIntent._api_list_all = classmethod(list_payment_intents)

    replies: dict[str, tuple[str, int, bytes, str]] = {}
    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    @web.middleware
    async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        fingerprint = hashlib.sha256(
            request.path.encode() + b"\n" + await request.read()
        ).hexdigest()
        if key in replies:
            seen, status, body, content_type = replies[key]
            if seen != fingerprint:
                return web.json_response(
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": f"Keys for idempotent requests can only be used with the"
                            f" same parameters they were first used with: {key}",
                        }
                    },
                    status=400,
                )
            return web.Response(status=status, body=body, content_type=content_type)
        response = await handler(request)
        if isinstance(response, web.Response) and response.body is not None:
            body = response.body if isinstance(response.body, bytes) else b""
            replies[key] = (fingerprint, response.status, body, response.content_type)
        return response

    server.app.middlewares.insert(0, idempotency)
    return server.app


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve until killed."""
    from aiohttp import web

    web.run_app(_patch_localstripe(), host=host, port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LocalStripe:
    """The server as a subprocess on a free port: `with LocalStripe() as stripe: stripe.url`."""

    def __init__(self, port: int | None = None, startup_seconds: float = 15.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._startup = startup_seconds
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> "LocalStripe":
        self._process = subprocess.Popen(
            [sys.executable, "-m", "devtools.stripe_server", "--port", str(self.port)],
            # From the repository's root, where `devtools` is importable whatever the caller's
            # working directory.
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._startup
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"stripe server exited with {self._process.returncode}")
            try:
                httpx.get(f"{self.url}/v1/customers", auth=("sk_test_local", ""), timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"stripe server did not answer on {self.url}")

    def register_webhook(self, url: str, secret: str, name: str = "payments") -> None:
        """Have the server POST its signed events to `url`."""
        response = httpx.post(
            f"{self.url}/_config/webhooks/{name}",
            data={"url": url, "secret": secret},
            auth=("sk_test_local", ""),
        )
        response.raise_for_status()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> "LocalStripe":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Stripe API (localstripe, patched).")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--host", default="127.0.0.1")
    arguments = parser.parse_args()
    serve(arguments.port, arguments.host)


if __name__ == "__main__":
    main()
