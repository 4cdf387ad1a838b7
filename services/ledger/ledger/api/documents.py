"""The other shapes of usage reports and statements: CSV for spreadsheets and accounting
imports, and a printable one-page HTML statement in the partner's language.

CSV numbers stay machine-readable (decimal points, ISO dates) whatever the locale; the HTML
page is for people, so it formats numbers, money and dates the partner's way (German: 1.234,50
EUR and 10.11.2026) with babel.
"""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from html import escape
from typing import Any, Literal

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

Shape = Literal["json", "csv", "html"]

_BABEL_LOCALES = {"de": "de_DE", "en": "en_GB"}


def wanted_shape(accept: str | None, allowed: Sequence[Shape] = ("json", "csv", "html")) -> Shape:
    """The answer's shape by the request's Accept header (JSON unless CSV or HTML is named)."""
    accept = (accept or "").lower()
    for shape, media_type in (("csv", "text/csv"), ("html", "text/html")):
        if shape in allowed and media_type in accept:
            return shape  # type: ignore[return-value]
    return "json"


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


USAGE_DAY_HEADER = ("date", "mailings", "recipients", "credits")
USAGE_CUSTOMER_HEADER = ("customer_id", "name", "mailings", "recipients", "credits")
STATEMENT_HEADER = (
    "kind",
    "id",
    "description",
    "quantity",
    "billable_quantity",
    "unit_price",
    "periods",
    "full_amount",
    "prorated",
    "exact_amount",
    "currency",
)


def statement_csv(quote: Mapping[str, Any]) -> str:
    """One row per quote line, amounts exact as the pricing service gave them."""
    return to_csv(
        STATEMENT_HEADER,
        (
            (
                line["kind"],
                line["id"],
                line["description"],
                line["quantity"],
                (line.get("evaluation") or {}).get("billable_quantity", line["quantity"]),
                line["unit_price"],
                line["periods"],
                line["full_amount"],
                "true" if line["prorated"] else "false",
                line["exact_amount"],
                quote["currency"],
            )
            for line in quote["lines"]
        ),
    )


_TEXT = {
    "de": {
        "title": "Abrechnung",
        "customer": "Kunde",
        "period": "Zeitraum",
        "plan": "Tarif",
        "price_list": "Preisliste",
        "version": "Version",
        "item": "Position",
        "quantity": "Menge",
        "amount": "Betrag",
        "total": "Gesamt",
        "prorated": "anteilig {days} von {period_days} Tagen",
        "free": "davon frei",
        "usage": "Nutzung im Zeitraum",
        "mailings": "Mailings",
        "recipients": "Empfänger",
        "credits": "Credits (Ihre Kosten bei der Plattform)",
        "to": "bis",
        "note": "Beträge netto. Positionen exakt, Gesamtbetrag einmal kaufmännisch gerundet.",
    },
    "en": {
        "title": "Statement",
        "customer": "Customer",
        "period": "Period",
        "plan": "Plan",
        "price_list": "Price list",
        "version": "version",
        "item": "Item",
        "quantity": "Quantity",
        "amount": "Amount",
        "total": "Total",
        "prorated": "prorated {days} of {period_days} days",
        "free": "of which free",
        "usage": "Usage in the period",
        "mailings": "Mailings",
        "recipients": "Recipients",
        "credits": "Credits (your cost at the platform)",
        "to": "to",
        "note": "Net amounts. Lines are exact; the total is rounded once, half up.",
    },
}


def _money(amount: str, currency: str, locale: str) -> str:
    try:
        return str(format_currency(Decimal(amount), currency, locale=locale))
    except (ValueError, KeyError):  # a pseudo-currency babel does not know
        return f"{format_decimal(Decimal(amount), locale=locale)} {currency}"


def _exact(amount: str, locale: str) -> str:
    # Lines may carry more decimals than the currency (0.015 per recipient): show up to four.
    return str(format_decimal(Decimal(amount), format="#,##0.00##", locale=locale))


_STYLE = """
body { font: 11pt/1.4 "Helvetica Neue", Arial, sans-serif; color: #222; margin: 2cm; }
h1 { font-size: 18pt; margin: 0 0 0.5em; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { padding: 4px 6px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; white-space: nowrap; }
tr.total td { font-weight: bold; border-top: 2px solid #222; border-bottom: none; }
.meta td { border: none; padding: 1px 6px 1px 0; }
small { color: #666; }
@media print { body { margin: 1cm; } }
"""


def statement_html(
    *,
    locale: str,
    partner_name: str,
    customer_id: str,
    customer_name: str,
    period_start: date,
    period_end: date,
    quote: Mapping[str, Any],
    usage: Mapping[str, int],
) -> str:
    """A clean one-page statement: the quote's lines and total, and the period's usage."""
    text = _TEXT.get(locale, _TEXT["en"])
    where = _BABEL_LOCALES.get(locale, "en_GB")
    currency = str(quote["currency"])
    last_day = date.fromordinal(period_end.toordinal() - 1)
    period = (
        f"{format_date(period_start, format='medium', locale=where)} {text['to']}"
        f" {format_date(last_day, format='medium', locale=where)}"
    )
    rows = []
    for line in quote["lines"]:
        detail = ""
        evaluation = line.get("evaluation") or {}
        if line["kind"] == "metered_component" and evaluation:
            free = Decimal(line["quantity"]) - Decimal(evaluation["billable_quantity"])
            if free:
                detail = f"<br><small>{text['free']}: {format_decimal(free, locale=where)}</small>"
        if line["prorated"] and quote.get("proration"):
            detail += f"<br><small>{escape(text['prorated'].format(**quote['proration']))}</small>"
        rows.append(
            f"<tr><td>{escape(str(line['description']))}{detail}</td>"
            f"<td class='n'>{format_decimal(Decimal(line['quantity']), locale=where)}</td>"
            f"<td class='n'>{_exact(line['exact_amount'], where)}</td></tr>"
        )
    total = _money(str(quote["total"]), currency, where)
    usage_rows = "".join(
        f"<tr><td>{text[key]}</td>"
        f"<td class='n'>{format_decimal(usage[key], locale=where)}</td></tr>"
        for key in ("mailings", "recipients", "credits")
    )
    return f"""<!DOCTYPE html>
<html lang="{escape(locale)}">
<head><meta charset="utf-8"><title>{text["title"]} {escape(customer_name)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{text["title"]}</h1>
<p><strong>{escape(partner_name)}</strong></p>
<table class="meta">
<tr><td>{text["customer"]}</td><td>{escape(customer_name)} ({escape(customer_id)})</td></tr>
<tr><td>{text["period"]}</td><td>{period}</td></tr>
<tr><td>{text["plan"]}</td><td>{escape(str(quote["plan_variant_id"]))}</td></tr>
<tr><td>{text["price_list"]}</td><td>{escape(str(quote["price_list_id"]))},
 {text["version"]} {int(quote["price_list_version"])}</td></tr>
</table>
<table>
<thead><tr><th>{text["item"]}</th><th class="n">{text["quantity"]}</th>
<th class="n">{text["amount"]} ({escape(currency)})</th></tr></thead>
<tbody>
{"".join(rows)}
<tr class="total"><td colspan="2">{text["total"]}</td><td class="n">{total}</td></tr>
</tbody>
</table>
<p><small>{text["note"]}</small></p>
<h2 style="font-size: 12pt">{text["usage"]}</h2>
<table>{usage_rows}</table>
</body>
</html>
"""
