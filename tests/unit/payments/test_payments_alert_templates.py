"""The e-mails of the balance alert levels, customer budget alerts, declined charges and
reversed payments, in
German and English, rendered from messages as the ledger publishes them (each valid against
its JSON Schema)."""

from typing import Any

import pytest

from payments.domain.reminders import render
from shared.codec import validate_data

LEVEL = {
    "partner_id": "p1",
    "threshold": 5000,
    "balance": 1234,
    "occurred_at": "2026-12-01T00:00:00Z",
}
BUDGET = {
    "partner_id": "p1",
    "customer_id": "c7",
    "customer_name": "Bäckerei Müller",
    "percent": 80,
    "used": 8100,
    "monthly_credits": 10000,
    "month": "2026-12",
    "occurred_at": "2026-12-01T00:00:00Z",
}
CHARGE = {
    "partner_id": "p1",
    "charge_id": "p1:charge:m-9",
    "reason": "expired card",
    "code": "expired_card",
    "occurred_at": "2026-12-01T00:00:00Z",
}

RETURNED = {
    "partner_id": "p1",
    "credits": 25000,
    "amount_minor": 25000,
    "currency": "EUR",
    "reason": "MD01 no mandate",
    "code": "MD01",
    "occurred_at": "2026-12-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("message_type", "data", "german", "english"),
    [
        (
            "ledger.balance_threshold_crossed",
            LEVEL,
            ("Acme: Ihr Guthaben liegt unter 5.000 Credits", "auf 1.234 Credits gesunken"),
            ("Acme: your credit balance fell below 5,000 credits", "down to 1,234 credits"),
        ),
        (
            "ledger.balance_recovered",
            LEVEL,
            ("Acme: Ihr Guthaben liegt wieder über 5.000 Credits", "wieder 1.234 Credits"),
            ("Acme: your credit balance is above 5,000 credits again", "back at 1,234 credits"),
        ),
        (
            "ledger.customer_budget_alert",
            BUDGET,
            (
                "Acme: Bäckerei Müller hat 80 % des Budgets verbraucht",
                "im Monat 2026-12 8.100 seiner 10.000 Credits verbraucht",
            ),
            (
                "Acme: Bäckerei Müller has used 80 % of its budget",
                "has used 8,100 of its 10,000 credits for 2026-12",
            ),
        ),
        (
            "ledger.charge_failed",
            CHARGE,
            (
                "Acme: Eine Abbuchung für Ihre Mailings ist fehlgeschlagen",
                "Abbuchung p1:charge:m-9 des Kontos p1 für die Mailings Ihrer Kunden ist "
                "fehlgeschlagen: expired card",
            ),
            (
                "Acme: a charge for your mailings failed",
                "charge p1:charge:m-9 of account p1 for your customers' mailings failed: "
                "expired card",
            ),
        ),
        (
            "ledger.purchase_returned",
            {**RETURNED, "purchase_id": "pu-7"},
            (
                "Acme: Eine bezahlte Credit-Bestellung wurde zurückgebucht",
                "Bestellung pu-7 des Kontos p1 wurde von Ihrer Bank oder Kartengesellschaft "
                "zurückgebucht: MD01 no mandate. Die 25.000 Credits wurden",
            ),
            (
                "Acme: a paid credit purchase was reversed",
                "purchase pu-7 of account p1 was reversed by your bank or card issuer: MD01 no "
                "mandate. Its 25,000 credits were taken back",
            ),
        ),
        (
            "ledger.charge_returned",
            {**RETURNED, "charge_id": "p1:charge:m-9"},
            (
                "Acme: Eine bezahlte Abbuchung für Ihre Mailings wurde zurückgebucht",
                "Abbuchung p1:charge:m-9 des Kontos p1 wurde von Ihrer Bank oder "
                "Kartengesellschaft zurückgebucht: MD01 no mandate",
            ),
            (
                "Acme: a paid charge for your mailings was reversed",
                "charge p1:charge:m-9 of account p1 was reversed by your bank or card issuer: "
                "MD01 no mandate",
            ),
        ),
    ],
)
def test_alerts_are_mailed_in_the_partner_s_language(
    message_type: str,
    data: dict[str, Any],
    german: tuple[str, str],
    english: tuple[str, str],
) -> None:
    for locale, (subject, phrase) in (("de", german), ("en", english)):
        message = {**data, "locale": locale}
        validate_data(message_type, message)
        mail = render(message_type, message, "Acme")
        assert mail is not None
        assert (mail.locale, mail.subject) == (locale, subject)
        assert phrase in mail.body
        assert "{" not in mail.body
