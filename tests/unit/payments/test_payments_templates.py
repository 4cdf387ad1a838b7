"""Reminder e-mails in the partner's language."""

from payments.domain.reminders import Mail, pick_locale, render

LOW = {
    "partner_id": "p1",
    "balance": 1234,
    "threshold": 5000,
    "occurred_at": "2026-01-01T00:00:00Z",
}


def test_low_balance_in_german_and_english() -> None:
    german = render("ledger.low_balance_reached", {**LOW, "locale": "de"}, "Acme Mail")
    english = render("ledger.low_balance_reached", {**LOW, "locale": "en"}, "Acme Mail")
    assert german is not None and english is not None
    assert (german.locale, german.subject) == ("de", "Acme Mail: Ihr Guthaben ist niedrig")
    assert "ist auf 1.234 Credits gesunken" in german.body
    assert "Erinnerungsschwelle von 5.000 Credits" in german.body
    assert german.body.endswith("Ihr Acme Mail-Team\n")
    assert (english.locale, english.subject) == ("en", "Acme Mail: your credit balance is low")
    assert "is down to 1,234 credits, below your reminder threshold of 5,000 credits" in (
        english.body
    )


def test_purchase_failed_advice_depends_on_retryable() -> None:
    data = {
        "partner_id": "p1",
        "purchase_id": "pu9",
        "reason": "insufficient funds",
        "code": "insufficient_funds",
        "occurred_at": "2026-01-01T00:00:00Z",
    }
    soft = render("ledger.purchase_failed", {**data, "retryable": True, "locale": "en"}, "mb")
    hard = render("ledger.purchase_failed", {**data, "retryable": False, "locale": "de"}, "mb")
    assert soft == Mail(
        "en",
        "mb: your credit purchase failed",
        "Hello,\n\nthe payment for credit purchase pu9 of account p1 failed: insufficient funds."
        "\n\nThe payment may go through on a later attempt.\n\nYour mb team\n",
    )
    assert hard is not None
    assert hard.subject == "mb: Ihr Credit-Kauf ist fehlgeschlagen"
    assert "Bitte aktualisieren Sie Ihre Zahlungsart." in hard.body


def test_auto_purchase_suspended() -> None:
    mail = render(
        "ledger.auto_purchase_suspended",
        {
            "partner_id": "p1",
            "failures": 3,
            "reason": "card declined",
            "locale": "de-AT",
            "occurred_at": "2026-01-01T00:00:00Z",
        },
        "mb",
    )
    assert mail is not None
    assert mail.subject == "mb: Automatische Credit-Käufe sind ausgesetzt"
    assert "nach 3 fehlgeschlagenen Zahlungen" in mail.body


def test_locales_and_types_not_mailed() -> None:
    assert [pick_locale(x) for x in ("de", "de_DE", "DE-at", "en-GB", "fr", "", None)] == [
        "de",
        "de",
        "de",
        "en",
        "en",
        "en",
        "en",
    ]
    assert render("ledger.reservation_expired", {"partner_id": "p1"}, "mb") is None
