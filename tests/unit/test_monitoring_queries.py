"""The monitoring files' shape, and the reading of their queries that the e2e check relies on
(tests/e2e/test_monitoring_metrics.py)."""

import json

import pytest
import yaml

from ledger.settings import LedgerSettings
from payments.settings import PaymentsSettings
from pricing.settings import PricingSettings
from tests.e2e.monitoring_queries import (
    DASHBOARD,
    MONITORING,
    WEBHOOK_WORKER_METRICS,
    exported_names,
    metric_names,
    queried_names,
    rule_queries,
)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up == 0", {"up"}),
        (
            'sum by (group, topic) (rate(consumer_dead_letters_total{topic=~"a|b"}[5m])) * 60 > 1',
            {"consumer_dead_letters_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (service, le) "
            "(rate(http_request_duration_seconds_bucket[$__rate_interval])))",
            {"http_request_duration_seconds_bucket"},
        ),
        (
            'sum(rate(a_total{status=~"5..", route="/x{y}"}[5m])) / sum(rate(b_total[5m])) '
            "> 1e3 and on (job) c_seconds offset 5m or ignoring(x) group_left(y) d:recorded",
            {"a_total", "b_total", "c_seconds", "d:recorded"},
        ),
        ('label_replace(x_info, "dst", "$1", "src", "(.*)")', {"x_info"}),
        ("max(m)by(job)", {"m"}),
        ("vector(1) > bool 0", set()),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exported_names_cover_suffixes_and_families_without_samples() -> None:
    page = (
        "# HELP jobs_total Jobs\n# TYPE jobs_total counter\n"
        "# HELP wait_seconds Wait\n# TYPE wait_seconds histogram\n"
        'wait_seconds_bucket{le="+Inf"} 1.0\nwait_seconds_count 1.0\nwait_seconds_sum 0.5\n'
        "# HELP depth Depth\n# TYPE depth gauge\ndepth 3.0\n"
    )
    declared, sampled = exported_names(page)
    assert {"jobs_total", "wait_seconds_bucket", "wait_seconds_sum", "depth"} <= declared
    assert "jobs_total" not in sampled  # declared, no labelled sample yet
    assert {"wait_seconds_bucket", "wait_seconds_count", "depth"} <= sampled


def test_every_alert_and_panel_queries_something() -> None:
    queried = queried_names()
    sources = {source for where in queried.values() for source in where}
    assert len(rule_queries()) >= 15
    assert sources >= set(rule_queries())
    assert set(queried) >= WEBHOOK_WORKER_METRICS


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 39  # Grafana 11 and later
    assert dashboard["uid"] == "mailbill"
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_the_scrape_config_targets_the_default_ports() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
        for job in config["scrape_configs"]
    }
    pricing, ledger = PricingSettings.model_fields, LedgerSettings.model_fields
    payments = PaymentsSettings.model_fields
    ports = {
        "mailbill-pricing": pricing["port"],
        "mailbill-ledger-api": ledger["port"],
        "mailbill-ledger-consumer": ledger["consumer_metrics_port"],
        "mailbill-ledger-relay": ledger["relay_metrics_port"],
        "mailbill-ledger-webhooks": ledger["webhook_metrics_port"],
        "mailbill-payments-api": payments["port"],
        "mailbill-payments-worker": payments["worker_metrics_port"],
        "mailbill-payments-notifier": payments["notifier_metrics_port"],
    }
    assert targets == {job: [f"127.0.0.1:{field.default}"] for job, field in ports.items()}
    # `make run` starts every process on one host: no two may default to the same port.
    defaults = [field.default for field in ports.values()]
    assert len(set(defaults)) == len(defaults), defaults


def test_every_alert_has_a_runbook_section() -> None:
    headings = {
        line.removeprefix("### ").strip().lower()
        for line in (MONITORING.parents[1] / "docs" / "operations.md").read_text().splitlines()
        if line.startswith("### ")
    }
    for path in sorted(MONITORING.glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                runbook = rule["annotations"]["runbook"]
                assert runbook.startswith("docs/operations.md#"), rule["alert"]
                assert runbook.split("#", 1)[1] in headings, rule["alert"]
