"""Decimal numbers: parsing with limits, and the one arithmetic context.

Rules (spec "Numbers"), and the choices made where the spec is silent:

* Quantities and prices are ``Decimal``; JSON numbers arrive already as ``Decimal`` (the HTTP
  layer parses with ``parse_float=Decimal``) or ``int``; strings like ``"0.0125"`` are read
  as decimals. ``float`` is refused: it has already lost the value the client sent.
* Accepted text is a plain JSON-style number: ``-?digits(.digits)?([eE][+-]?digits)?`` of at
  most 100 characters, no blanks, no ``_`` (which ``Decimal()`` would silently accept).
* Rejected: anything that is not a finite number, ``bool``, ``None``; magnitudes of 10^30
  or more (checked on the exponent, so ``"1e999999"`` is refused without being expanded);
  values below ``minimum``; more than 18 digits after the decimal point (trailing zeros do
  not count). Stripe allows 12 decimal places on ``unit_amount_decimal``; 18 leaves room for
  sub-cent credit prices while keeping every product exact in :data:`EXACT`.

Why :data:`EXACT` has 200 digits: inputs have at most 30 integer and 18 fraction digits
(48 significant). The longest exact product the pricing rules form is
``units x base_price x (100 - discount) / 100``: < 10^60 with 18+18+18+2 fraction digits,
about 116 digits; quotes multiply by small whole numbers and add a few lines. 200 leaves a
wide margin, and ``Inexact`` is trapped, so a result that would need rounding raises instead
of being silently wrong. The context is a private object used through its methods
(``EXACT.multiply``), never installed as the thread's context, so callers' contexts are
never touched. Rounding to money happens once, in :func:`pricing.domain.currencies.round_money`.
"""

from __future__ import annotations

import re
from decimal import (
    ROUND_CEILING,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

from .errors import InvalidInput, PricingError

MAX_EXPONENT = 30
"""Numbers must be < 10^MAX_EXPONENT in magnitude."""
MAX_FRACTION_DIGITS = 18
"""At most this many digits after the decimal point (trailing zeros do not count)."""
MAX_TEXT_LENGTH = 100

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
LIMIT = Decimal(10) ** MAX_EXPONENT

EXACT = Context(
    prec=200,
    Emax=999_999,
    Emin=-999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
"""Context for all pricing arithmetic: wide enough to be exact, and loud if it is not."""

ROUNDING = Context(prec=200, rounding=ROUND_HALF_UP, traps=[InvalidOperation])
"""Context for the one deliberate rounding step (to money, to whole credits)."""

# Text is read with create_decimal of a context that traps errors, so an exponent beyond
# the context's range raises instead of depending on the caller's thread context.
_PARSE = EXACT.copy()

_NON_FINITE = frozenset({"nan", "snan", "inf", "infinity"})
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def parse_decimal(
    value: object,
    path: str,
    *,
    minimum: Decimal | int | None = 0,
    error: type[PricingError] = InvalidInput,
) -> Decimal:
    """Read ``value`` (``Decimal``, ``int`` or numeric string) as a bounded, finite ``Decimal``.

    Raises ``error(path, message)`` (``InvalidInput`` unless told otherwise) when the value is
    not a number, not finite, of 10^30 or more in magnitude, below ``minimum`` (``None``: no
    lower bound) or has more than 18 digits after the decimal point. Zero comes back as
    ``Decimal(0)`` whatever its exponent or sign.
    """
    # Whole numbers as text ("5000") are what the ledger sends, 10,000 per batch quote: they
    # need none of the checks below but the sign.
    if type(value) is str and len(value) < MAX_EXPONENT and value.isdigit() and value.isascii():
        number = Decimal(value)
        if minimum is not None and number < minimum:
            raise error(path, f"must be >= {minimum}, got {decimal_to_json(number)}")
        return number if number else ZERO
    # Strings first: they are what clients send, so the common path is the short one.
    few_places = False
    if type(value) is str:
        if len(value) <= MAX_TEXT_LENGTH and _NUMBER.fullmatch(value):
            try:
                number = _PARSE.create_decimal(value)
            except DecimalException:
                raise error(path, f"is out of range: {value}") from None
            # Without an exponent the text shows the places: cheaper than as_tuple() below.
            point = value.find(".")
            few_places = "e" not in value and "E" not in value
            few_places = few_places and (point < 0 or len(value) - point - 1 <= MAX_FRACTION_DIGITS)
        elif value.strip().lower().lstrip("+-") in _NON_FINITE:
            raise error(path, f"must be a finite number, got {_describe(value)}")
        else:
            raise error(path, f'must be a decimal number like "12.5", got {_describe(value)}')
    elif isinstance(value, Decimal):
        number = value
        if not number.is_finite():
            raise error(path, f"must be a finite number, got {value!s}")
    elif isinstance(value, bool) or value is None:
        raise error(path, f"must be a number, got {_describe(value)}")
    elif isinstance(value, int):
        if abs(value) >= 10**MAX_EXPONENT:
            raise error(path, f"must be less than 1E+{MAX_EXPONENT} in magnitude")
        number = Decimal(value)
    elif isinstance(value, str):  # a str subclass
        return parse_decimal(str(value), path, minimum=minimum, error=error)
    elif isinstance(value, float):
        raise error(path, "floats are not accepted (they are inexact); send a string or Decimal")
    else:
        raise error(path, f"must be a number, got {_describe(value)}")

    if number.is_zero():
        number = ZERO
    elif number.adjusted() >= MAX_EXPONENT:
        raise error(path, f"must be less than 1E+{MAX_EXPONENT} in magnitude")
    # Only a number with more than 18 places in its exponent can break the limit; counting
    # its trailing zeros (slow) is left to those few. Checked before the sign: the message
    # below prints the number, which is short only now.
    elif (
        not few_places
        and _exponent(number) < -MAX_FRACTION_DIGITS
        and fraction_digits(number) > MAX_FRACTION_DIGITS
    ):
        raise error(path, f"must have at most {MAX_FRACTION_DIGITS} digits after the decimal point")
    if minimum is not None and number < minimum:
        raise error(path, f"must be >= {minimum}, got {decimal_to_json(number)}")
    return number


def _exponent(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers only
    return exponent


def fraction_digits(number: Decimal) -> int:
    """Digits after the decimal point of a finite number, not counting trailing zeros."""
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite numbers only
    if exponent >= 0:
        return 0
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing_zeros)


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return repr(shown)
    return type(value).__name__


def decimal_to_json(number: Decimal) -> str:
    """Canonical text of a decimal: plain notation, never an exponent."""
    # "1000", not "1E+3": clients parse it without surprises. str() is plain for all but
    # very large or very small exponents and three times faster than format(); this runs
    # about ten times per priced item of a batch quote.
    text = str(number)
    return format(number, "f") if "E" in text else text


def ceil_div(dividend: Decimal, divisor: Decimal) -> Decimal:
    """Smallest whole number n with n x divisor >= dividend (dividend >= 0, divisor > 0).

    Integer division is exact, unlike ``dividend / divisor`` which could round.
    """
    quotient = EXACT.divide_int(dividend, divisor)
    if EXACT.multiply(quotient, divisor) < dividend:
        quotient = EXACT.add(quotient, ONE)
    return quotient


def ceil_to_int(number: Decimal) -> int:
    """The smallest integer >= number."""
    return int(number.to_integral_value(rounding=ROUND_CEILING, context=EXACT))
