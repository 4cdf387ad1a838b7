"""pain.008.001.08 out (validated against the XSD sepaxml ships), the bank's answers in."""

import xml.etree.ElementTree as ET
from datetime import date

import pytest
from sepaxml.validation import ValidationError

from payments.adapters.sepa_xml import (
    Collection,
    Creditor,
    build_pain008,
    message_id_of,
    parse_bank_file,
)
from payments.domain.sepa import BankEntry

CREDITOR = Creditor("M", "DE89370400440532013000", "COBADEFFXXX", "DE98ZZZ09999999999")
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.08"}


def collection(e2e: str, amount_minor: int, **overrides: object) -> Collection:
    fields: dict[str, object] = {
        "end_to_end_id": e2e,
        "amount_minor": amount_minor,
        "currency": "EUR",
        "iban": "AT611904300234573201",
        "bic": None,
        "account_holder": "Müller & Söhne KG",
        "mandate_reference": "MB-P1-0001",
        "mandate_signed_on": date(2025, 1, 15),
        "description": "Credits p1 pu1",
    }
    fields.update(overrides)
    return Collection(**fields)  # type: ignore[arg-type]


def test_a_collection_file() -> None:
    document = build_pain008(
        CREDITOR,
        [collection("MBAAA", 1234), collection("MBBBB", 50_00, bic="BKAUATWWXXX")],
        date(2026, 11, 24),
    )
    root = ET.fromstring(document)
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.008.001.08}Document"
    assert root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    assert root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) == "62.34"
    assert root.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS) == message_id_of(document)
    assert {e.text for e in root.iterfind(".//p:ReqdColltnDt", NS)} == {"2026-11-24"}
    assert {e.text for e in root.iterfind(".//p:SeqTp", NS)} == {"RCUR"}
    assert {e.text for e in root.iterfind(".//p:LclInstrm/p:Cd", NS)} == {"CORE"}
    assert root.findtext(".//p:CdtrSchmeId//p:Othr/p:Id", namespaces=NS) == "DE98ZZZ09999999999"
    transactions = {
        tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS): (
            tx.findtext("p:InstdAmt", namespaces=NS),
            tx.findtext(".//p:MndtId", namespaces=NS),
            tx.findtext(".//p:DtOfSgntr", namespaces=NS),
            tx.findtext("p:Dbtr/p:Nm", namespaces=NS),
            tx.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=NS),
        )
        for tx in root.iterfind(".//p:DrctDbtTxInf", NS)
    }
    assert transactions == {
        "MBAAA": ("12.34", "MB-P1-0001", "2025-01-15", "Muller & Sohne KG", "AT611904300234573201"),
        "MBBBB": ("50.00", "MB-P1-0001", "2025-01-15", "Muller & Sohne KG", "AT611904300234573201"),
    }


def test_the_schema_refuses_what_the_bank_would() -> None:
    with pytest.raises(ValidationError):
        build_pain008(
            CREDITOR, [collection("MBAAA", 100, mandate_reference="M" * 36)], date(2026, 11, 24)
        )


CAMT_054 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
 <BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>N1</MsgId><CreDtTm>2026-11-24T18:00:00</CreDtTm></GrpHdr>
  <Ntfctn>
   <Id>1</Id>
   <Ntry>
    <Amt Ccy="EUR">62.34</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
    <NtryDtls>
     <TxDtls><Refs><EndToEndId>MBAAA</EndToEndId></Refs><Amt Ccy="EUR">12.34</Amt></TxDtls>
     <TxDtls><Refs><EndToEndId>MBBBB</EndToEndId></Refs><Amt Ccy="EUR">50.00</Amt></TxDtls>
    </NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="EUR">50.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
    <NtryDtls><TxDtls>
     <Refs><EndToEndId>MBBBB</EndToEndId></Refs>
     <RtrInf><Rsn><Cd>AM04</Cd></Rsn><AddtlInf>Deckung fehlt</AddtlInf></RtrInf>
    </TxDtls></NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="EUR">9.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts>
    <NtryDtls><TxDtls><Refs><EndToEndId>MBCCC</EndToEndId></Refs></TxDtls></NtryDtls>
   </Ntry>
  </Ntfctn>
 </BkToCstmrDbtCdtNtfctn>
</Document>"""

PAIN_002 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10">
 <CstmrPmtStsRpt>
  <GrpHdr><MsgId>S1</MsgId><CreDtTm>2026-11-23T20:00:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts><OrgnlMsgId>20261123-abc</OrgnlMsgId><OrgnlMsgNmId>pain.008.001.08</OrgnlMsgNmId><GrpSts>PART</GrpSts></OrgnlGrpInfAndSts>
  <OrgnlPmtInfAndSts>
   <OrgnlPmtInfId>P1</OrgnlPmtInfId>
   <TxInfAndSts><OrgnlEndToEndId>MBAAA</OrgnlEndToEndId><TxSts>RJCT</TxSts>
    <StsRsnInf><Rsn><Cd>MD01</Cd></Rsn></StsRsnInf></TxInfAndSts>
   <TxInfAndSts><OrgnlEndToEndId>MBBBB</OrgnlEndToEndId><TxSts>ACCP</TxSts></TxInfAndSts>
  </OrgnlPmtInfAndSts>
 </CstmrPmtStsRpt>
</Document>"""

PAIN_002_FILE_REJECTED = b"""<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
 <CstmrPmtStsRpt><GrpHdr><MsgId>S2</MsgId></GrpHdr>
  <OrgnlGrpInfAndSts><OrgnlMsgId>20261123-abc</OrgnlMsgId><GrpSts>RJCT</GrpSts>
   <StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf></OrgnlGrpInfAndSts>
 </CstmrPmtStsRpt></Document>"""


def test_camt054_bookings_and_returns() -> None:
    assert parse_bank_file(CAMT_054) == [
        BankEntry("booked", "MBAAA", None),
        BankEntry("booked", "MBBBB", None),
        BankEntry("returned", "MBBBB", "AM04", "Deckung fehlt"),
    ]


def test_pain002_rejects_only() -> None:
    assert parse_bank_file(PAIN_002) == [BankEntry("rejected", "MBAAA", "MD01", None)]


def test_pain002_a_whole_file_rejected() -> None:
    assert parse_bank_file(PAIN_002_FILE_REJECTED) == [
        BankEntry("rejected", None, "FF01", None, "20261123-abc")
    ]


def test_other_documents_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"not a pain\.002 or camt\.05x document: CstmrDrctDbtInitn"
    ):
        parse_bank_file(build_pain008(CREDITOR, [collection("MBAAA", 100)], date(2026, 11, 24)))


def test_the_creditor_is_checked() -> None:
    assert (
        Creditor.checked("M", "DE89 3704 0044 0532 0130 00", "COBADEFFXXX", "DE98ZZZ09999999999")
        == CREDITOR
    )
    with pytest.raises(ValueError, match="creditor identifier 'DE97ZZZ09999999999' is not valid"):
        Creditor.checked("M", "DE89370400440532013000", "COBADEFFXXX", "DE97ZZZ09999999999")
    with pytest.raises(ValueError, match="Invalid checksum digits"):
        Creditor.checked("M", "DE89370400440532013001", "COBADEFFXXX", "DE98ZZZ09999999999")
