"""The production rule for secrets: with `MAILBILL_ENV=production` a process refuses to start on
a token or key that is still its local default, a placeholder, or too short to resist guessing.

Each service's settings class names its secrets and calls :func:`require_strong_secrets` when
it is built, so every process (API, consumer, worker, ops command) fails at start, not later.
"""

import sys
from collections.abc import Callable, Iterable

from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32
# Values the repository's own files carry as stand-ins for a real secret.
PLACEHOLDERS = ("change-me", "change_me")


class DeploymentSettings(BaseSettings):
    """Where this process runs: `MAILBILL_ENV` is `local` (the default) or `production`."""

    model_config = SettingsConfigDict(env_prefix="MAILBILL_")

    env: str = "local"


class WeakSecret(RuntimeError):
    """A production process was given a default, placeholder or short secret."""


def weak_secrets(settings: BaseSettings, names: Iterable[str]) -> list[str]:
    """One line per named secret of `settings` that production must not run with."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    fields = type(settings).model_fields
    problems = []
    for name in names:
        value = getattr(settings, name)
        if value is None:
            continue  # not configured at all: the feature is off (e.g. SMTP without login)
        variable = (prefix + name).upper()
        if value == fields[name].default:
            problems.append(f"{variable} is the local default")
        elif any(placeholder in value.lower() for placeholder in PLACEHOLDERS):
            problems.append(f"{variable} is a placeholder ({value!r})")
        elif len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{variable} is shorter than {MIN_SECRET_LENGTH} characters")
    return problems


def require_strong_secrets(settings: BaseSettings, names: Iterable[str]) -> None:
    """Raise :class:`WeakSecret` in production when any named secret is weak; else nothing."""
    if DeploymentSettings().env != "production":
        return
    problems = weak_secrets(settings, names)
    if problems:
        raise WeakSecret(
            "MAILBILL_ENV=production refuses to start: "
            + "; ".join(problems)
            + f". Set each to a random value of at least {MIN_SECRET_LENGTH} characters"
            " (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
        )


def run_refusing_weak_secrets(main: Callable[[], object]) -> None:
    """Run a process's command line; a :class:`WeakSecret` ends it with its message alone
    (exit code 2), not a traceback an operator has to read through."""
    try:
        main()
    except WeakSecret as refused:
        print(f"error: {refused}", file=sys.stderr)
        raise SystemExit(2) from None
