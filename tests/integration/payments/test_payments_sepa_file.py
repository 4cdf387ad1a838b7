"""SEPA direct debits by bank file: queued by the worker, one pain.008 per day, the bank's
camt.054 and pain.002 read back into results."""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.sepa_file import build_batch
from payments.adapters.sepa_xml import parse_bank_file
from payments.bootstrap import PaymentsContainer, bootstrap, creditor_from
from payments.domain.requests import PaymentRequest, end_to_end_id
from payments.domain.sepa import collection_date, is_target_business_day
from payments.settings import PaymentsSettings
from tests.integration.payments.conftest import attempt_row, outbox_results, unique

TODAY = datetime.now(UTC).date()


def bank_account(iban: str, **extra: str) -> dict[str, str]:
    return {
        "type": "sepa_debit",
        "iban": iban,
        "account_holder": "Muster GmbH",
        "mandate_reference": f"MB-{unique('m')}",
        "mandate_signed_on": "2025-06-01",
        **extra,
    }


async def debit(
    container: PaymentsContainer, method: dict[str, str], amount_minor: int = 5250
) -> str:
    """A charge request recorded and driven through the file gateway, as the worker does."""
    request = PaymentRequest(unique("ch"), "charge", "p1", amount_minor, "EUR", method, unique("x"))
    async with container.unit_of_work() as uow:
        await uow.attempts.add(request, "sepa_file")
    await container.driver().drive(request.request_id)
    return request.request_id


def camt054(booked: list[str], returned: dict[str, str]) -> bytes:
    credits = "".join(
        f"<TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs></TxDtls>" for e2e in booked
    )
    returns = "".join(
        f"<Ntry><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><NtryDtls><TxDtls>"
        f"<Refs><EndToEndId>{e2e}</EndToEndId></Refs><RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf>"
        f"</TxDtls></NtryDtls></Ntry>"
        for e2e, code in returned.items()
    )
    return (
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
        "<BkToCstmrDbtCdtNtfctn><Ntfctn>"
        f"<Ntry><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><NtryDtls>{credits}</NtryDtls>"
        f"</Ntry>{returns}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()


def pain002_reject(e2e: str, code: str) -> bytes:
    return (
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrPmtStsRpt>'
        "<OrgnlGrpInfAndSts><OrgnlMsgId>x</OrgnlMsgId><GrpSts>PART</GrpSts></OrgnlGrpInfAndSts>"
        f"<OrgnlPmtInfAndSts><TxInfAndSts><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId>"
        f"<TxSts>RJCT</TxSts><StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf></TxInfAndSts>"
        "</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"
    ).encode()


@pytest.fixture(scope="module")
def settings(database_url: str) -> PaymentsSettings:
    # The file gateway as production wires it: DE and AT, one business day of lead time.
    return PaymentsSettings(
        database_url=database_url,
        sepa_countries="DE,AT",
        sepa_lead_business_days=1,
        retry_base_seconds=1,
        retry_max_seconds=1,
    )


@pytest.fixture(scope="module")
async def container(settings: PaymentsSettings) -> AsyncIterator[PaymentsContainer]:
    container = bootstrap(settings)
    yield container
    await container.close()


async def test_a_day_of_debits_from_queue_to_results(
    engine: AsyncEngine, settings: PaymentsSettings, container: PaymentsContainer
) -> None:
    german = await debit(container, bank_account("DE89 3704 0044 0532 0130 00"))
    austrian = await debit(container, bank_account("AT611904300234573201", bic="BKAUATWWXXX"), 1990)
    invalid = await debit(container, bank_account("DE89370400440532013001"))

    assert (await attempt_row(engine, german))["status"] == "pending"  # type: ignore[index]
    assert (await outbox_results(engine, invalid))[0] | {"occurred_at": None} == {
        "partner_id": "p1",
        "request_id": invalid,
        "kind": "charge",
        "status": "failed",
        "amount_minor": 5250,
        "currency": "EUR",
        "reason": "IBAN invalid: Invalid checksum digits",
        "code": "invalid_iban",
        "retryable": False,
        "gateway": "sepa_file",
        "gateway_reference": None,
        "occurred_at": None,
    }

    creditor = creditor_from(settings)
    batch = await build_batch(engine, creditor, TODAY, 1)
    assert batch is not None
    again = await build_batch(engine, creditor, TODAY, 1)
    assert again == batch
    assert batch.transactions == 2
    assert batch.collection_date == collection_date(TODAY)
    assert is_target_business_day(batch.collection_date)
    document = batch.document.decode()
    for request_id in (german, austrian):
        assert f"<EndToEndId>{end_to_end_id(request_id)}</EndToEndId>" in document
    assert '<InstdAmt Ccy="EUR">52.50</InstdAmt>' in document
    assert '<InstdAmt Ccy="EUR">19.90</InstdAmt>' in document
    assert end_to_end_id(invalid) not in document

    late = await debit(container, bank_account("DE89370400440532013000"))
    assert await build_batch(engine, creditor, TODAY, 1) == batch
    tomorrow = await build_batch(engine, creditor, TODAY + timedelta(days=1), 1)
    assert tomorrow is not None and tomorrow.transactions == 1
    assert end_to_end_id(late) in tomorrow.document.decode()

    booked = camt054(
        [end_to_end_id(german), end_to_end_id(austrian)], {end_to_end_id(austrian): "AM04"}
    )
    now = datetime.now(UTC)
    assert await container.import_bank_file(booked, now) == [
        (german, "succeeded"),
        (austrian, "succeeded"),
        (austrian, "returned"),
    ]
    assert await container.import_bank_file(booked, now) == []
    assert await container.import_bank_file(pain002_reject(end_to_end_id(late), "MD01"), now) == [
        (late, "failed")
    ]
    returned = (await outbox_results(engine, austrian))[-1]
    assert (returned["status"], returned["code"], returned["reason"]) == (
        "returned",
        "AM04",
        "insufficient funds",
    )
    rejected = (await outbox_results(engine, late))[-1]
    assert (rejected["status"], rejected["code"], rejected["retryable"]) == (
        "failed",
        "MD01",
        False,
    )


async def test_a_mandate_unused_for_36_months_is_refused(
    engine: AsyncEngine, container: PaymentsContainer
) -> None:
    old = bank_account("DE89370400440532013000", mandate_signed_on="2021-01-04")
    request_id = await debit(container, old)
    row = await attempt_row(engine, request_id)
    assert row is not None
    assert (row["status"], row["code"]) == ("failed", "mandate_expired")


async def test_the_command_line(
    tmp_path: Path, container: PaymentsContainer, database_url: str
) -> None:
    day = TODAY + timedelta(days=30)
    request_id = await debit(container, bank_account("DE89370400440532013000"), 990)
    out = tmp_path / "collect.xml"
    environment = {**os.environ, "PAYMENTS_DATABASE_URL": database_url}

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "payments", *arguments],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    built = await asyncio.to_thread(run, "sepa-batch", "--date", day.isoformat(), "--out", str(out))
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith(f"{out}: 1 debits, message id ")
    assert built.stdout.rstrip().endswith(f"collection date {collection_date(day).isoformat()}")
    assert end_to_end_id(request_id) in out.read_text()

    bank_file = tmp_path / "camt054.xml"
    bank_file.write_bytes(camt054([end_to_end_id(request_id)], {}))
    assert parse_bank_file(bank_file.read_bytes())[0].kind == "booked"
    imported = await asyncio.to_thread(run, "sepa-returns", str(bank_file))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == f"{request_id}: succeeded\n1 payments changed\n"

    broken = tmp_path / "broken.xml"
    broken.write_text("<Document><Nothing/></Document>")
    refused = await asyncio.to_thread(run, "sepa-returns", str(broken))
    assert refused.returncode == 1
    assert "not a pain.002 or camt.05x document: Nothing" in refused.stderr
