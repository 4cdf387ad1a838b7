"""With MAILBILL_ENV=production a service with a default token does not start: it exits at
once with an error that names the variable, instead of serving with a guessable token."""

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO
from tests.integration.conftest import free_port


@pytest.mark.parametrize(
    ("service", "variable"),
    [("pricing", "PRICING_ADMIN_TOKEN"), ("ledger", "LEDGER_OPS_TOKEN")],
)
def test_production_mode_refuses_to_start_with_a_default_token(service: str, variable: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_ADMIN_TOKEN", "_OPS_TOKEN"))}
    # A port of its own, should it start after all: the test then fails, colliding with no one.
    env |= {"MAILBILL_ENV": "production", f"{service.upper()}_PORT": str(free_port())}

    finished = subprocess.run(
        [sys.executable, "-m", service, "serve"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode != 0
    assert "MAILBILL_ENV=production refuses to start" in finished.stderr
    assert f"{variable} is the local default" in finished.stderr
