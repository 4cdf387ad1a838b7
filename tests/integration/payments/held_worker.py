"""`python -m tests.integration.payments.held_worker FILE`: the payment worker as `python -m
payments work` runs it, with a fault injected through bootstrap: after the gateway answered and
before the answer is recorded, it creates FILE and hangs, so a test can SIGKILL it right there."""

import asyncio
import os
import sys
from pathlib import Path

from payments.bootstrap import bootstrap
from payments.entrypoints import run_worker
from payments.settings import PaymentsSettings
from shared.logging import configure_logging
from shared.messaging.runtime import run_until_signal


class HoldAfterGateway:
    """Announces the crash window by creating a file, then never returns."""

    def __init__(self, announce: Path) -> None:
        self._announce = announce

    async def after_gateway_answered(self, request_id: str) -> None:
        await asyncio.to_thread(self._announce.write_text, str(os.getpid()))
        await asyncio.Event().wait()


def main(announce: Path) -> None:
    settings = PaymentsSettings()
    configure_logging(settings.log_level, settings.log_json)

    async def worker(stop: asyncio.Event) -> None:
        container = bootstrap(settings, faults=HoldAfterGateway(announce))
        try:
            await run_worker(container, stop)
        finally:
            await container.close()

    run_until_signal(worker)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
