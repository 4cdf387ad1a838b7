"""Which declines may be asked again (soft) and which never (hard).

Card codes are Stripe's `code` / `decline_code`; SEPA codes are the ISO 20022 reason codes of
rejects and returns (pain.002, camt.054) and Stripe's SEPA failure codes. A soft decline is
published as failed with `retryable=true`, and the ledger decides when to ask again (its
auto-purchase back-off); a hard one with `retryable=false`. Nothing is retried by the worker itself.
"""

from payments.domain.outcomes import Outcome

# The partner must come back and authenticate, or use another payment method: asking again with
# the same card or mandate cannot succeed, and card networks penalise repeated attempts.
HARD_CARD_CODES = frozenset(
    {
        "authentication_required",
        "expired_card",
        "incorrect_number",
        "invalid_number",
        "invalid_account",
        "invalid_cvc",
        "incorrect_cvc",
        "lost_card",
        "stolen_card",
        "pickup_card",
        "restricted_card",
        "fraudulent",
        "merchant_blacklist",
        "card_not_supported",
        "currency_not_supported",
        "do_not_try_again",
        "security_violation",
        "revocation_of_authorization",
        "revocation_of_all_authorizations",
        "stop_payment_order",
        "transaction_not_allowed",
        "new_account_information_available",
        "payment_intent_authentication_failure",
        "card_declined_rate_limit_exceeded",
    }
)
# Worth another try later: money, limits, the issuer being busy.
SOFT_CARD_CODES = frozenset(
    {
        "insufficient_funds",
        "generic_decline",
        "card_velocity_exceeded",
        "withdrawal_count_limit_exceeded",
        "processing_error",
        "issuer_not_available",
        "try_again_later",
        "reenter_transaction",
        "approve_with_id",
        "call_issuer",
        "do_not_honor",
        "no_action_taken",
        "not_permitted",
        "card_declined",
    }
)

# SEPA reasons that another collection from the same mandate may overcome: insufficient funds,
# and the unspecified ones. Everything else (account closed, no mandate, refused by the debtor,
# deceased, ...) needs the partner to act.
SOFT_SEPA_CODES = frozenset({"AM04", "MS03", "insufficient_funds", "generic_could_not_process"})

SEPA_REASONS = {
    "AC01": "account identifier incorrect",
    "AC04": "account closed",
    "AC06": "account blocked",
    "AC13": "debtor account is a consumer account",
    "AG01": "direct debit forbidden on this account",
    "AG02": "invalid bank operation code",
    "AM04": "insufficient funds",
    "AM05": "duplicate collection",
    "BE05": "creditor unknown to the debtor bank",
    "FF01": "invalid file format",
    "MD01": "no valid mandate",
    "MD02": "mandate data missing or incorrect",
    "MD06": "refund requested by the debtor",
    "MD07": "debtor deceased",
    "MS02": "refused by the debtor",
    "MS03": "reason not specified",
    "RC01": "bank identifier incorrect",
    "RR01": "missing debtor account or identification",
    "RR02": "missing debtor name or address",
    "RR03": "missing creditor name or address",
    "RR04": "regulatory reason",
    "SL01": "specific service offered by the debtor bank",
}


def card_decline_is_soft(code: str | None, decline_code: str | None) -> bool:
    """A card decline's retryability. `decline_code` (the issuer's reason) wins over `code`; an
    unknown code counts as soft, because the ledger's back-off and suspension cap it anyway."""
    for candidate in (decline_code, code):
        if candidate in HARD_CARD_CODES:
            return False
        if candidate in SOFT_CARD_CODES:
            return True
    return True


def card_failure(
    code: str | None, decline_code: str | None, message: str | None, reference: str | None
) -> Outcome:
    """A declined card payment as an outcome; `code` carries the most specific reason."""
    return Outcome(
        status="failed",
        reference=reference,
        code=decline_code or code or "card_declined",
        reason=message or "the card was declined",
        retryable=card_decline_is_soft(code, decline_code),
    )


def sepa_failure(
    code: str | None, reason: str | None, reference: str | None, *, returned: bool
) -> Outcome:
    """A SEPA reject (before settlement) or return (after) as an outcome."""
    text = reason or SEPA_REASONS.get(code or "") or "direct debit not collected"
    return Outcome(
        status="returned" if returned else "failed",
        reference=reference,
        code=code,
        reason=text,
        retryable=code in SOFT_SEPA_CODES,
    )
