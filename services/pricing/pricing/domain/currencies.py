"""Currencies: ISO 4217 minor units, and rounding a total to money once.

The minor-unit table is ISO 4217 list one (active codes with a minor unit, 2025), embedded
rather than read from ``babel``: babel follows CLDR, whose "digits" deliberately differ from
ISO for some currencies (CLDR gives IQD 0 where ISO says 3, and 0 for AFN, ALL, IRR, KPW,
LAK, LBP, MGA, MMK, RSD, SOS, SYP, YER where ISO says 2) and accepts withdrawn codes (DEM,
HRK) and codes without a minor unit (XAU, XXX). Billing must follow ISO and must not change
when a library updates its locale data. A test compares the table with babel's.

``CREDITS`` is the pseudo-currency of the credit ledger, with exponent 0. Credits follow the
same rule as money: what a mailing costs in credits is the exact amount rounded ONCE, half-up,
to a whole credit (5,000 recipients at 1.05: 5,250 credits; 10 recipients: 10.5 -> 11; 1
recipient: 1.05 -> 1). One rule for every currency keeps a credit quote and a money quote
comparable and lets an audit recompute either from the version it names.

Codes are upper case, exactly as ISO writes them; ``"eur"`` is refused rather than guessed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .errors import InvalidInput, PricingError
from .numbers import ROUNDING

CREDITS = "CREDITS"

# ISO 4217 list one: active codes with a minor unit (metals, funds without one left out).
_ISO_4217_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
_EXPONENT_0_CODES = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3_CODES = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4_CODES = "CLF UYW"


def _exponent(code: str) -> int:
    for exponent, codes in ((0, _EXPONENT_0_CODES), (3, _EXPONENT_3_CODES), (4, _EXPONENT_4_CODES)):
        if code in codes.split():
            return exponent
    return 2


MINOR_UNITS: dict[str, int] = {code: _exponent(code) for code in _ISO_4217_CODES.split()}
MINOR_UNITS[CREDITS] = 0

# The smallest unit of each currency as a Decimal (EUR: 0.01), the quantum of round_money.
QUANTA: dict[str, Decimal] = {code: Decimal(1).scaleb(-exp) for code, exp in MINOR_UNITS.items()}


def minor_units(code: str, path: str = "$.currency") -> int:
    """ISO 4217 exponent of ``code`` (EUR 2, JPY 0, BHD 3; ``CREDITS`` 0).

    Raises ``InvalidInput(path, ...)`` for an unknown code.
    """
    try:
        return MINOR_UNITS[code]
    except (KeyError, TypeError):
        raise _unknown(code, path, InvalidInput) from None


def check_currency(code: object, path: str, error: type[PricingError] = InvalidInput) -> str:
    """Return ``code`` if it is a known currency, else raise ``error(path, ...)``."""
    if isinstance(code, str) and code in MINOR_UNITS:
        return code
    raise _unknown(code, path, error)


def _unknown(code: object, path: str, error: type[PricingError]) -> PricingError:
    if isinstance(code, str) and code.upper() in MINOR_UNITS:
        return error(path, f"currency codes are upper case: use {code.upper()!r}")
    return error(path, f"unknown currency {code!r}; expected an ISO 4217 code or {CREDITS!r}")


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up (ties away from zero) to the minor unit of ``currency``.

    Call it once, on a total: lines stay exact so that rounding errors cannot add up.
    The result carries exactly the currency's number of decimals (EUR ``12.30``).
    """
    try:
        quantum = QUANTA[currency]
    except KeyError:
        raise _unknown(currency, "$.currency", InvalidInput) from None
    return amount.quantize(quantum, rounding=ROUND_HALF_UP, context=ROUNDING)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """An amount already rounded by :func:`round_money` as a whole number of minor units.

    EUR ``12.34`` -> 1234, JPY ``500`` -> 500, ``CREDITS`` ``5250`` -> 5250. Integers in the
    smallest unit are what ledgers store. Raises ``ValueError`` for an amount that is not
    rounded to the currency (that would be a bug, never a client's fault).
    """
    minor = amount.scaleb(MINOR_UNITS[currency], ROUNDING)
    whole = int(minor)
    if minor != whole:
        raise ValueError(f"{amount} is not rounded to the minor unit of {currency}")
    return whole
