"""The production rule: no default, placeholder or short secret when MAILBILL_ENV=production."""

from typing import Any

import pytest
from pydantic_settings import BaseSettings

from ledger.settings import LedgerSettings
from payments.settings import PaymentsSettings
from pricing.settings import PricingSettings
from shared.secrets import MIN_SECRET_LENGTH, WeakSecret

STRONG = "s" * MIN_SECRET_LENGTH
STRONG_SECRETS: dict[type[BaseSettings], dict[str, Any]] = {
    PricingSettings: {"admin_token": STRONG},
    LedgerSettings: {"ops_token": STRONG, "stripe_api_key": "sk_live_" + STRONG},
    PaymentsSettings: {"stripe_api_key": "sk_live_" + STRONG, "stripe_webhook_secret": STRONG},
}
SERVICES = list(STRONG_SECRETS)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBILL_ENV", "production")


@pytest.mark.parametrize("settings", SERVICES)
def test_locally_the_defaults_do(settings: type[BaseSettings]) -> None:
    settings()


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize("settings", SERVICES)
def test_production_refuses_the_default_secrets(settings: type[BaseSettings]) -> None:
    with pytest.raises(WeakSecret, match="MAILBILL_ENV=production refuses to start") as refused:
        settings()

    for name in STRONG_SECRETS[settings]:
        prefix = str(settings.model_config.get("env_prefix", ""))
        assert f"{(prefix + name).upper()} is the local default" in str(refused.value)


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize("settings", SERVICES)
def test_production_starts_with_long_random_secrets(settings: type[BaseSettings]) -> None:
    settings(**STRONG_SECRETS[settings])


@pytest.mark.usefixtures("production")
def test_production_refuses_a_short_or_placeholder_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICING_ADMIN_TOKEN", "s" * (MIN_SECRET_LENGTH - 1))
    with pytest.raises(WeakSecret, match="PRICING_ADMIN_TOKEN is shorter than 32 characters"):
        PricingSettings()

    monkeypatch.setenv("LEDGER_OPS_TOKEN", "change-me-to-a-long-random-token-please")
    with pytest.raises(WeakSecret, match="LEDGER_OPS_TOKEN is a placeholder"):
        LedgerSettings(stripe_api_key="sk_live_" + STRONG)


@pytest.mark.usefixtures("production")
def test_an_unset_optional_secret_is_not_weak() -> None:
    settings = PaymentsSettings(**STRONG_SECRETS[PaymentsSettings])

    assert settings.smtp_password is None
