"""What deploy/monitoring queries, and what a `/metrics` page exports, as sets of metric names.

PromQL is read with a small tokenizer rather than a parser: no maintained PromQL parser for
Python is among the project's dependencies, and only the names are needed. Strings, label
matchers, ranges, label lists (`by (...)`) and Grafana variables are removed first; what is
left that looks like a name and is not a function, a keyword or a number is a metric name.
"""

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "mailbill.json"

# Series that Prometheus makes itself for each scrape, not a service.
PROMETHEUS_OWN = frozenset({"up"})

# Queried by webhooks.rules.yml and the dashboard's webhook row, exported by the ledger's webhook
# worker alone.
WEBHOOK_WORKER_METRICS = frozenset({"webhook_deliveries_due", "webhook_delivery_attempts_total"})

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# A name not glued to a digit (1e3, 5m) or a dot, and whether a `(` follows (a function).
_NAMES = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
    | {"group_left", "group_right"}
)

# The names a family of each type shows in the text format, besides its own.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = _STRINGS.sub('""', expr)
    text = _VARIABLES.sub("1m", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    return {
        name for name, call in _NAMES.findall(text) if not call and name.lower() not in _KEYWORDS
    }


def rule_queries() -> dict[str, str]:
    """Every alert's (or recording rule's) expression, by its name, from *.rules.yml."""
    queries: dict[str, str] = {}
    for path in sorted(MONITORING.glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                queries[f"{path.name}: {rule.get('alert') or rule['record']}"] = rule["expr"]
    return queries


def dashboard_queries() -> dict[str, str]:
    """Every query of the Grafana dashboard, by panel title and refId."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries: dict[str, str] = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries[f"{panel['title']} {target['refId']}"] = target["expr"]
    return queries


def queried_names() -> dict[str, set[str]]:
    """Metric name -> where it is queried (rules and dashboard)."""
    where: dict[str, set[str]] = {}
    for source, expr in {**rule_queries(), **dashboard_queries()}.items():
        for name in metric_names(expr):
            where.setdefault(name, set()).add(source)
    return where


def exported_names(page: str) -> tuple[set[str], set[str]]:
    """(declared, sampled): every series name a `/metrics` page declares (a family shows its
    name even before its first labelled sample), and the names that have a sample."""
    declared: set[str] = set()
    sampled: set[str] = set()
    for family in text_string_to_metric_families(page):
        declared.add(family.name)
        declared.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        sampled.update(sample.name for sample in family.samples)
    return declared | sampled, sampled
