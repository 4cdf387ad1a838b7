"""SEPA files: build a pain.008.001.08 collection file, read the bank's answers back.

Building uses `sepaxml`, which validates its output against the official XSD it ships. Reading
accepts pain.002 (status report: rejects before settlement) and camt.054 / camt.053 (bookings
and returns after settlement), of any version: elements are matched by local name.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date

from schwifty import BIC, IBAN
from sepaxml import SepaDD

from payments.domain.sepa import BankEntry, valid_creditor_id

PAIN_008 = "pain.008.001.08"


@dataclass(frozen=True, slots=True)
class Creditor:
    name: str
    iban: str
    bic: str
    creditor_id: str

    @staticmethod
    def checked(name: str, iban: str, bic: str, creditor_id: str) -> "Creditor":
        """The creditor, refused (ValueError) with a wrong creditor id, IBAN or BIC before the
        bank refuses the whole file."""
        if not valid_creditor_id(creditor_id):
            raise ValueError(f"creditor identifier {creditor_id!r} is not valid")
        return Creditor(name, IBAN(iban).compact, BIC(bic).compact, creditor_id)


@dataclass(frozen=True, slots=True)
class Collection:
    end_to_end_id: str
    amount_minor: int
    currency: str
    iban: str
    bic: str | None
    account_holder: str
    mandate_reference: str
    mandate_signed_on: date
    description: str


def build_pain008(creditor: Creditor, collections: list[Collection], collect_on: date) -> bytes:
    """One pain.008.001.08 document (SEPA Core, recurring) for `collect_on`, validated.

    Every debit is `RCUR`: `FRST` has been optional in SEPA Core since November 2016.
    """
    document = SepaDD(
        {
            "name": creditor.name,
            "IBAN": creditor.iban,
            "BIC": creditor.bic,
            "batch": True,
            "creditor_id": creditor.creditor_id,
            "currency": "EUR",
        },
        schema=PAIN_008,
        clean=True,
    )
    for c in collections:
        payment = {
            "name": c.account_holder,
            "IBAN": c.iban,
            "amount": c.amount_minor,
            "currency": c.currency,
            "type": "RCUR",
            "collection_date": collect_on,
            "mandate_id": c.mandate_reference,
            "mandate_date": c.mandate_signed_on,
            "description": c.description,
            "endtoend_id": c.end_to_end_id,
        }
        if c.bic:
            payment["BIC"] = c.bic
        document.add_payment(payment)
    exported: bytes = document.export(validate=True, pretty_print=True)
    return exported


def message_id_of(document: bytes) -> str:
    """The group header's MsgId of a pain document."""
    found = ET.fromstring(document).find(".//{*}GrpHdr/{*}MsgId")
    if found is None or not found.text:
        raise ValueError("document has no MsgId")
    return found.text


def _text(element: ET.Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    return found.text.strip() if found is not None and found.text else None


def parse_bank_file(document: bytes) -> list[BankEntry]:
    """The bank's answers in a pain.002, camt.054 or camt.053 document."""
    root = ET.fromstring(document)
    message = root[0] if len(root) else root
    name = message.tag.rsplit("}", 1)[-1]
    if name == "CstmrPmtStsRpt":
        return _parse_status_report(message)
    if name in ("BkToCstmrDbtCdtNtfctn", "BkToCstmrStmt"):
        return _parse_bookings(message)
    raise ValueError(f"not a pain.002 or camt.05x document: {name}")


def _reason(element: ET.Element) -> tuple[str | None, str | None]:
    code = _text(element, ".//{*}Rsn/{*}Cd") or _text(element, ".//{*}Rsn/{*}Prtry")
    info = _text(element, ".//{*}AddtlInf")
    return code, info


def _parse_status_report(report: ET.Element) -> list[BankEntry]:
    entries: list[BankEntry] = []
    group = report.find("{*}OrgnlGrpInfAndSts")
    transactions = report.findall(".//{*}TxInfAndSts")
    for tx in transactions:
        if _text(tx, "{*}TxSts") == "RJCT":
            code, info = _reason(tx)
            entries.append(BankEntry("rejected", _text(tx, "{*}OrgnlEndToEndId"), code, info))
    if group is not None and _text(group, "{*}GrpSts") == "RJCT" and not transactions:
        code, info = _reason(group)
        entries.append(BankEntry("rejected", None, code, info, _text(group, "{*}OrgnlMsgId")))
    return entries


def _parse_bookings(message: ET.Element) -> list[BankEntry]:
    entries: list[BankEntry] = []
    for entry in message.iter():
        if entry.tag.rsplit("}", 1)[-1] != "Ntry":
            continue
        status = _text(entry, "{*}Sts/{*}Cd") or _text(entry, "{*}Sts")
        if status != "BOOK":
            continue
        credit = _text(entry, "{*}CdtDbtInd") == "CRDT"
        for tx in entry.findall(".//{*}TxDtls"):
            end_to_end = _text(tx, "{*}Refs/{*}EndToEndId")
            returned = tx.find("{*}RtrInf")
            if returned is not None:
                code, info = _reason(returned)
                entries.append(BankEntry("returned", end_to_end, code, info))
            elif credit:
                entries.append(BankEntry("booked", end_to_end, None))
    return entries
