"""The e-mails, in German and English. Pure: a notification in, a subject and a body out.

Numbers are formatted for the locale (Babel): 1.234 credits in German, 1,234 in English.
"""

from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal

LOCALES = ("de", "en")
DEFAULT_LOCALE = "en"


@dataclass(frozen=True, slots=True)
class Mail:
    locale: str
    subject: str
    body: str


_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "ledger.low_balance_reached": {
        "en": (
            "{brand}: your credit balance is low",
            "Hello,\n\n"
            "the credit balance of account {partner_id} is down to {balance} credits, below "
            "your reminder threshold of {threshold} credits.\n\n"
            "Buy credits in time so that your customers' mailings keep going out.\n\n"
            "Your {brand} team\n",
        ),
        "de": (
            "{brand}: Ihr Guthaben ist niedrig",
            "Guten Tag,\n\n"
            "das Guthaben des Kontos {partner_id} ist auf {balance} Credits gesunken und liegt "
            "damit unter Ihrer Erinnerungsschwelle von {threshold} Credits.\n\n"
            "Bitte kaufen Sie rechtzeitig Credits nach, damit die Mailings Ihrer Kunden weiter "
            "versendet werden.\n\n"
            "Ihr {brand}-Team\n",
        ),
    },
    "ledger.balance_threshold_crossed": {
        "en": (
            "{brand}: your credit balance fell below {threshold} credits",
            "Hello,\n\n"
            "the credit balance of account {partner_id} is down to {balance} credits, below "
            "your alert level of {threshold} credits.\n\n"
            "Buy credits in time so that your customers' mailings keep going out.\n\n"
            "Your {brand} team\n",
        ),
        "de": (
            "{brand}: Ihr Guthaben liegt unter {threshold} Credits",
            "Guten Tag,\n\n"
            "das Guthaben des Kontos {partner_id} ist auf {balance} Credits gesunken und liegt "
            "damit unter Ihrer Warnschwelle von {threshold} Credits.\n\n"
            "Bitte kaufen Sie rechtzeitig Credits nach, damit die Mailings Ihrer Kunden weiter "
            "versendet werden.\n\n"
            "Ihr {brand}-Team\n",
        ),
    },
    "ledger.balance_recovered": {
        "en": (
            "{brand}: your credit balance is above {threshold} credits again",
            "Hello,\n\n"
            "the credit balance of account {partner_id} is back at {balance} credits, at or "
            "above the {threshold} credits you set for balance alerts.\n\n"
            "We will tell you again should it fall below.\n\n"
            "Your {brand} team\n",
        ),
        "de": (
            "{brand}: Ihr Guthaben liegt wieder über {threshold} Credits",
            "Guten Tag,\n\n"
            "das Guthaben des Kontos {partner_id} beträgt wieder {balance} Credits und liegt "
            "damit nicht mehr unter den {threshold} Credits, die Sie für Guthabenwarnungen "
            "festgelegt haben.\n\n"
            "Sinkt es erneut darunter, benachrichtigen wir Sie wieder.\n\n"
            "Ihr {brand}-Team\n",
        ),
    },
    "ledger.customer_budget_alert": {
        "en": (
            "{brand}: {customer_name} has used {percent} % of its budget",
            "Hello,\n\n"
            "your customer {customer_name} ({customer_id}) of account {partner_id} has used "
            "{used} of its {monthly_credits} credits for {month}: {percent} % of its monthly "
            "budget.\n\n"
            "Reservations past the budget are refused; mailings already sent are always "
            "billed. You can change the budget in your portal.\n\n"
            "Your {brand} team\n",
        ),
        "de": (
            "{brand}: {customer_name} hat {percent} % des Budgets verbraucht",
            "Guten Tag,\n\n"
            "Ihr Kunde {customer_name} ({customer_id}) des Kontos {partner_id} hat im Monat "
            "{month} {used} seiner {monthly_credits} Credits verbraucht: {percent} % seines "
            "Monatsbudgets.\n\n"
            "Reservierungen über das Budget hinaus werden abgelehnt; bereits versendete "
            "Mailings werden immer abgerechnet. Das Budget können Sie in Ihrem Portal "
            "ändern.\n\n"
            "Ihr {brand}-Team\n",
        ),
    },
    "ledger.purchase_failed": {
        "en": (
            "{brand}: your credit purchase failed",
            "Hello,\n\n"
            "the payment for credit purchase {purchase_id} of account {partner_id} failed: "
            "{reason}.\n\n{advice_en}\n\nYour {brand} team\n",
        ),
        "de": (
            "{brand}: Ihr Credit-Kauf ist fehlgeschlagen",
            "Guten Tag,\n\n"
            "die Zahlung für den Credit-Kauf {purchase_id} des Kontos {partner_id} ist "
            "fehlgeschlagen: {reason}.\n\n{advice_de}\n\nIhr {brand}-Team\n",
        ),
    },
    "ledger.charge_failed": {
        "en": (
            "{brand}: a charge for your mailings failed",
            "Hello,\n\n"
            "the payment of charge {charge_id} of account {partner_id} for your customers' "
            "mailings failed: {reason}.\n\n"
            "Its amount is now owed; new reservations are refused until it is paid. Please "
            "check your payment method.\n\n"
            "Your {brand} team\n",
        ),
        "de": (
            "{brand}: Eine Abbuchung für Ihre Mailings ist fehlgeschlagen",
            "Guten Tag,\n\n"
            "die Zahlung der Abbuchung {charge_id} des Kontos {partner_id} für die Mailings "
            "Ihrer Kunden ist fehlgeschlagen: {reason}.\n\n"
            "Der Betrag ist damit offen; neue Reservierungen werden abgelehnt, bis er bezahlt "
            "ist. Bitte prüfen Sie Ihre Zahlungsart.\n\n"
            "Ihr {brand}-Team\n",
        ),
    },
    "ledger.purchase_returned": {
        "en": (
            "{brand}: a paid credit purchase was reversed",
            "Hello,\n\n"
            "the payment of purchase {purchase_id} of account {partner_id} was reversed by "
            "your bank or card issuer: {reason}. Its {credits} credits were taken back from "
            "your balance, and automatic purchases are suspended.\n\n"
            "Please check your payment method, then buy the credits again.\n\n"
            "Your {brand} team\n",
        ),
        "de": (
            "{brand}: Eine bezahlte Credit-Bestellung wurde zurückgebucht",
            "Guten Tag,\n\n"
            "die Zahlung der Bestellung {purchase_id} des Kontos {partner_id} wurde von Ihrer "
            "Bank oder Kartengesellschaft zurückgebucht: {reason}. Die {credits} Credits wurden "
            "Ihrem Guthaben wieder abgezogen, automatische Käufe sind ausgesetzt.\n\n"
            "Bitte prüfen Sie Ihre Zahlungsart und kaufen Sie die Credits erneut.\n\n"
            "Ihr {brand}-Team\n",
        ),
    },
    "ledger.charge_returned": {
        "en": (
            "{brand}: a paid charge for your mailings was reversed",
            "Hello,\n\n"
            "the payment of charge {charge_id} of account {partner_id} was reversed by your "
            "bank or card issuer: {reason}.\n\n"
            "Its amount is owed again; new reservations are refused until it is paid. Please "
            "check your payment method.\n\n"
            "Your {brand} team\n",
        ),
        "de": (
            "{brand}: Eine bezahlte Abbuchung für Ihre Mailings wurde zurückgebucht",
            "Guten Tag,\n\n"
            "die Zahlung der Abbuchung {charge_id} des Kontos {partner_id} wurde von Ihrer Bank "
            "oder Kartengesellschaft zurückgebucht: {reason}.\n\n"
            "Der Betrag ist damit wieder offen; neue Reservierungen werden abgelehnt, bis er "
            "bezahlt ist. Bitte prüfen Sie Ihre Zahlungsart.\n\n"
            "Ihr {brand}-Team\n",
        ),
    },
    "ledger.auto_purchase_suspended": {
        "en": (
            "{brand}: automatic credit purchases are suspended",
            "Hello,\n\n"
            "after {failures} failed payments we have suspended automatic credit purchases "
            "for account {partner_id} ({reason}).\n\n"
            "Please check your payment method; a successful manual purchase resumes them.\n\n"
            "Your {brand} team\n",
        ),
        "de": (
            "{brand}: Automatische Credit-Käufe sind ausgesetzt",
            "Guten Tag,\n\n"
            "nach {failures} fehlgeschlagenen Zahlungen haben wir die automatischen "
            "Credit-Käufe für das Konto {partner_id} ausgesetzt ({reason}).\n\n"
            "Bitte prüfen Sie Ihre Zahlungsart; ein erfolgreicher manueller Kauf setzt sie "
            "wieder in Gang.\n\n"
            "Ihr {brand}-Team\n",
        ),
    },
}

_ADVICE = {
    True: {
        "en": "The payment may go through on a later attempt.",
        "de": "Die Zahlung kann bei einem späteren Versuch gelingen.",
    },
    False: {
        "en": "Please update your payment method.",
        "de": "Bitte aktualisieren Sie Ihre Zahlungsart.",
    },
}


def pick_locale(locale: str | None) -> str:
    """`de`, `de-AT`, `de_DE` -> de; anything unknown -> en."""
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return language if language in LOCALES else DEFAULT_LOCALE


def render(message_type: str, data: dict[str, Any], brand: str) -> Mail | None:
    """The e-mail for a notification, or None for one that is not mailed (e.g. an expired
    reservation: the platform shows it, the partner needs no e-mail)."""
    templates = _TEMPLATES.get(message_type)
    if templates is None:
        return None
    locale = pick_locale(data.get("locale"))
    subject, body = templates[locale]
    fields = {
        **data,
        "brand": brand,
        "advice_en": _ADVICE[bool(data.get("retryable"))]["en"],
        "advice_de": _ADVICE[bool(data.get("retryable"))]["de"],
    }
    for name in (
        "balance",
        "threshold",
        "failures",
        "used",
        "monthly_credits",
        "percent",
        "credits",
    ):
        if name in data:
            fields[name] = format_decimal(data[name], locale=locale)
    return Mail(locale, subject.format(**fields), body.format(**fields))
