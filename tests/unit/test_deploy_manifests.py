"""The Docker Compose file and the Kubernetes manifests cannot run here, so check what we can:
they parse, and every environment variable they hand our processes is a setting that exists."""

import importlib.util
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from ledger.settings import LedgerSettings
from payments.settings import PaymentsSettings
from pricing.settings import PricingSettings
from shared.kafka_admin import KafkaAdminSettings
from shared.secrets import DeploymentSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS: list[type[BaseSettings]] = [
    PricingSettings,
    LedgerSettings,
    PaymentsSettings,
    KafkaAdminSettings,
    DeploymentSettings,
]
SERVICE_SETTINGS: list[type[BaseSettings]] = [PricingSettings, LedgerSettings, PaymentsSettings]
# Names that say "this is a secret"; a database URL carries its password.
SECRET_MARKS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY", "DATABASE_URL")


def secret_like(name: str) -> bool:
    return any(mark in name for mark in SECRET_MARKS)


def known_variables() -> set[str]:
    names = set()
    for settings in SETTINGS:
        prefix = str(settings.model_config.get("env_prefix", ""))
        names |= {(prefix + field).upper() for field in settings.model_fields}
    return names


def python_modules(command: list[str] | str) -> list[str]:
    words = command.split() if isinstance(command, str) else command
    text = " ".join(words)
    return [part.split()[0] for part in text.split("python -m ")[1:]]


def runnable(module: str) -> bool:
    """`python -m module` would start: a module, or a package with a `__main__`."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:
        return importlib.util.find_spec(f"{module}.__main__") is not None
    return True


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def our_compose_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def test_known_variables_are_derived_from_the_settings_classes() -> None:
    assert {"LEDGER_OPS_TOKEN", "PRICING_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= (
        known_variables()
    )
    assert "LEDGER_NO_SUCH_THING" not in known_variables()


@pytest.mark.parametrize("service", sorted(our_compose_services()))
def test_compose_sets_only_real_settings(service: str) -> None:
    environment = our_compose_services()[service].get("environment", {})
    assert set(environment) <= known_variables(), set(environment) - known_variables()


@pytest.mark.parametrize("service", sorted(our_compose_services()))
def test_compose_commands_name_modules_that_exist(service: str) -> None:
    modules = python_modules(our_compose_services()[service]["command"])
    assert modules
    for module in modules:
        assert runnable(module), module


def k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_k8s_config_and_container_env_are_real_settings() -> None:
    documents = k8s_documents()
    config_keys = set()
    for doc in documents:
        if doc["kind"] == "ConfigMap":
            config_keys |= set(doc["data"])
        if doc["kind"] == "Secret":
            config_keys |= set(doc["stringData"])
    assert config_keys <= known_variables(), config_keys - known_variables()

    containers = [
        c
        for doc in documents
        if doc["kind"] in {"Deployment", "Job"}
        for c in doc["spec"]["template"]["spec"]["containers"]
    ]
    assert len(containers) >= 7
    for container in containers:
        names = {e["name"] for e in container.get("env", [])}
        assert names <= known_variables(), names - known_variables()
        for module in python_modules(container["command"]):
            assert runnable(module), module


def k8s_data(kind: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for doc in k8s_documents():
        if doc["kind"] == kind:
            data |= doc.get("data" if kind == "ConfigMap" else "stringData", {})
    return data


def test_no_secret_like_variable_sits_in_a_config_map() -> None:
    in_config = {name for name in k8s_data("ConfigMap") if secret_like(name)}

    assert in_config == set()


def test_no_container_sets_a_secret_like_variable_in_plain_text() -> None:
    for doc in k8s_documents():
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                if secret_like(variable["name"]):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), variable


def test_every_secret_the_production_rule_checks_comes_from_the_secret() -> None:
    in_secret = set(k8s_data("Secret"))
    required = set()
    for settings in SERVICE_SETTINGS:
        prefix = str(settings.model_config.get("env_prefix", ""))
        for name in getattr(settings, "SECRET_FIELDS", ()):
            if settings.model_fields[name].default is not None:  # optional ones may stay unset
                required.add((prefix + name).upper())

    assert {"PRICING_ADMIN_TOKEN", "LEDGER_OPS_TOKEN"} <= required
    assert required <= in_secret, required - in_secret
    assert k8s_data("ConfigMap")["MAILBILL_ENV"] == "production"


def test_neither_the_image_nor_the_wheel_carries_development_tools_or_tests() -> None:
    copied = [
        line.split()[1:-1]
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY")
    ]
    sources = {source.rstrip("/") for sources in copied for source in sources}
    assert sources == {"pyproject.toml", "uv.lock", "README.md", "shared", "services"}
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert not [p for p in packages if p.split("/")[0] in ("devtools", "tests")]
    # Nothing under the copied directories is a development tool either.
    assert not list((DEPLOY.parent / "services").glob("*/*/testing"))
    assert not list((DEPLOY.parent / "services").glob("*/*/demo.py"))
