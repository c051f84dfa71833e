"""The funder's debtor account and the SEPA credit transfer file (pain.001.001.09) that pays a
settlement's statements from it.

The file is made once and kept with its MsgId: asking again returns the same bytes, so that a
bank never receives two different files for one settlement. Amounts are written from integer
cents by sepaxml (`int_to_decimal_str`), never through a float; sepaxml validates the file
against the ISO 20022 XSD it ships before we keep it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from sepaxml import SepaTransfer
from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.clock import local_zone
from voucher_service.db import Database
from voucher_service.errors import NotFound, SettlementNotAllowed
from voucher_service.partners.models import Partner
from voucher_service.programs.models import Program
from voucher_service.settlements.bank import account_view, checked_account
from voucher_service.settlements.models import IN_PAYMENT, Settlement, Statement

SCHEMA = "pain.001.001.09"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"


def set_debtor_account(
    database: Database, program_id: str, name: str, iban: str, bic: str
) -> dict[str, Any]:
    """The account the programme's payment files debit from now on (a file already made keeps
    the one it named); the answer shows the IBAN masked."""
    account = checked_account(name, iban, bic)
    with database.atomic() as session:
        program = session.get(Program, program_id, with_for_update=True)
        if program is None:
            raise NotFound(f"no programme {program_id}")
        program.debtor_name, program.debtor_iban, program.debtor_bic = (
            account.holder,
            account.iban,
            account.bic,
        )
        session.flush()
        view = account_view(program.debtor_name, program.debtor_iban, program.debtor_bic)
        assert view is not None
        return {"program_id": program.id, "name": view["holder"], **_without_holder(view)}


def _without_holder(view: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in view.items() if key != "holder"}


def payment_file(database: Database, settlement_id: str, now: datetime) -> bytes:
    """The settlement's payment file: made at the first call, the same bytes at every later
    one. One transaction a statement in payment whose partner has a bank account."""
    with database.atomic() as session:
        # Locked: two first calls at once make one file, the second reads it.
        settlement = session.get(Settlement, settlement_id, with_for_update=True)
        if settlement is None:
            raise NotFound(f"no settlement {settlement_id}")
        if settlement.payment_file is not None:
            return settlement.payment_file
        program = session.get(Program, settlement.program_id)
        assert program is not None  # programmes are never deleted
        if program.debtor_name is None or program.debtor_iban is None:
            raise SettlementNotAllowed(
                "the programme has no debtor account to pay from: give it one with "
                f"PUT /v1/programs/{program.id}/debtor-account"
            )
        payees = _payees(session, settlement.id)
        if not payees:
            raise SettlementNotAllowed(
                "no statement of this settlement is in payment to a partner with a bank "
                "account: there is nothing to pay"
            )
        msg_id = message_id(settlement.id)
        content = render(program, settlement, payees, msg_id, now)
        settlement.payment_msg_id, settlement.payment_file = msg_id, content
        settlement.payment_file_at = now
        return content


def ordered_statement_ids(content: bytes | None) -> set[str]:
    """The statements a stored payment file orders paid (by their EndToEndId, which `render`
    makes from the statement's id): none when no file was made."""
    if content is None:
        return set()
    root = ET.fromstring(content)  # noqa: S314 (our own file, made by render and stored)
    return {node.text for node in root.iter(f"{{{NAMESPACE}}}EndToEndId") if node.text is not None}


def end_to_end_id(statement: Statement) -> str:
    """A statement's EndToEndId in the payment file (35 characters at most)."""
    return statement.id.replace("-", "")


def _payees(session: Session, settlement_id: str) -> list[tuple[Statement, Partner]]:
    return [
        (statement, partner)
        for statement, partner in session.execute(
            select(Statement, Partner)
            .join(Partner, Partner.id == Statement.partner_id)
            .where(
                Statement.settlement_id == settlement_id,
                Statement.status == IN_PAYMENT,
                Partner.bank_iban.is_not(None),
            )
            .order_by(Statement.partner_id)
        )
    ]


def message_id(settlement_id: str) -> str:
    """The file's MsgId (at most 35 characters): the settlement's own, so a bank that sees it
    twice knows it is the same order."""
    return "VS" + settlement_id.replace("-", "")


def render(
    program: Program,
    settlement: Settlement,
    payees: list[tuple[Statement, Partner]],
    msg_id: str,
    now: datetime,
) -> bytes:
    """The pain.001.001.09 document, checked against its XSD (sepaxml raises otherwise)."""
    assert program.debtor_name
    assert program.debtor_iban
    config: dict[str, Any] = {
        "name": program.debtor_name,
        "IBAN": program.debtor_iban,
        "currency": "EUR",
        "batch": True,
    }
    if program.debtor_bic:
        config["BIC"] = program.debtor_bic
    transfer = SepaTransfer(config, schema=SCHEMA, clean=True)
    header = transfer._xml.find("CstmrCdtTrfInitn/GrpHdr")
    assert header is not None
    _set(header, "MsgId", msg_id)
    local = now.astimezone(local_zone())
    _set(header, "CreDtTm", local.isoformat(timespec="seconds"))
    for statement, partner in payees:
        assert partner.bank_holder
        assert partner.bank_iban
        payment: dict[str, Any] = {
            "name": partner.bank_holder,
            "IBAN": partner.bank_iban,
            "amount": statement.amount_cents,  # int cents: sepaxml refuses anything else
            "execution_date": local.date(),
            "description": f"{program.code} {settlement.period} releve {statement.count} "
            f"cheques {program.name}",
            "endtoend_id": end_to_end_id(statement),
        }
        if partner.bank_bic:
            payment["BIC"] = partner.bank_bic
        transfer.add_payment(payment)
    content: bytes = transfer.export(validate=True)
    return content


def _set(parent: ET.Element, tag: str, text: str) -> None:
    node = parent.find(tag)
    assert node is not None
    node.text = text
