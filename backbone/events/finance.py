"""Finance events (backbone.finance): supplier invoices."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from backbone.events.common import ItemRef, PartyRef, Quantity
from backbone.events.envelope import Event
from backbone.events.values import CanonicalRecord, MoneyDecimal


class AllowanceCharge(CanonicalRecord):
    """An allowance or a charge of an invoice or of one of its lines (X12 SAC)."""

    RECORD_NAME: ClassVar[str] = "backbone.finance.AllowanceCharge"

    indicator_raw: str
    code_raw: str | None = None
    amount: MoneyDecimal | None = None
    description: str | None = None


class InvoiceLine(CanonicalRecord):
    """One invoiced line (IT1)."""

    RECORD_NAME: ClassVar[str] = "backbone.finance.InvoiceLine"

    line_number: str
    item: ItemRef
    invoiced_qty: Quantity
    unit_price: MoneyDecimal
    amount: MoneyDecimal | None = None
    allowances_charges: tuple[AllowanceCharge, ...] = ()


class Invoice(Event):
    """A supplier invoice (X12 810). Topic finance.invoice.v1, key <buyer>|<po_number>."""

    RECORD_NAME: ClassVar[str] = "backbone.finance.Invoice"

    buyer: str
    po_number: str
    invoice_number: str
    invoice_date: date
    po_date: date | None = None
    invoice_type_raw: str | None = None
    currency: str | None = None
    parties: tuple[PartyRef, ...] = ()
    lines: tuple[InvoiceLine, ...] = ()
    total_amount: MoneyDecimal
    allowances_charges: tuple[AllowanceCharge, ...] = ()
