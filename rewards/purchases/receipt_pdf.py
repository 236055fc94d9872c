"""A receipt as a PDF (fpdf2), from the texts the receipt page prints
(``rewards.receipt_views.receipt_texts``).

The PDF uses the core Helvetica font with the Latin-1 encoding, which holds every Swedish
letter (å ä ö é): no font file is read, nothing comes from elsewhere, and the text is
searchable. A character outside Latin-1 (the minus sign "−", a name in another script) is
written as its nearest Latin-1 form or "?".
"""

from __future__ import annotations

import datetime
from typing import Any

from fpdf import FPDF

# Typographic characters the receipt's formats use, in Latin-1.
_LATIN1 = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2019": "'"})

_WIDTH = 180.0  # mm of an A4 page inside 15 mm margins
# Item, quantity, unit price, discount, VAT, amount.
_COLUMNS = (68.0, 14.0, 28.0, 26.0, 16.0, 28.0)


def _latin1(text: Any) -> str:
    return str(text).translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


class _ReceiptPDF(FPDF):
    def text_cell(
        self, width: float, text: Any, *, align: str = "L", bold: bool = False, size: int = 10
    ) -> None:
        self.set_font("Helvetica", "B" if bold else "", size)
        self.cell(width, 6, _latin1(text), align=align)

    def row(self, cells: list[tuple[float, Any, str]], *, bold: bool = False) -> None:
        for width, text, align in cells:
            self.text_cell(width, text, align=align, bold=bold)
        self.ln(6)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.text_cell(_WIDTH, text, bold=True, size=12)
        self.ln(7)

    def rule(self) -> None:
        y = self.get_y()
        self.line(self.l_margin, y, self.l_margin + _WIDTH, y)


def receipt_pdf_render(r: dict[str, Any], *, compress: bool = True) -> bytes:
    """The PDF's bytes for ``receipt_texts(...)`` (``compress=False``: the page contents as
    plain text, for reading them back in a test)."""
    labels = r["labels"]
    pdf = _ReceiptPDF(format="A4", unit="mm")
    pdf.set_compression(compress)
    # A fixed creation date: the same receipt gives the same file.
    pdf.set_creation_date(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
    pdf.set_title(_latin1(f"{r['title']} {r['receipt_id']}"))
    pdf.set_author(_latin1(r["club"]))
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()

    pdf.text_cell(_WIDTH, r["club"], size=10)
    pdf.ln(7)
    pdf.text_cell(_WIDTH, r["title"], bold=True, size=18)
    pdf.ln(10)
    for key in ("store", "time", "receipt_id"):
        pdf.row([(45, labels[key], "L"), (_WIDTH - 45, r[key], "L")])

    pdf.ln(3)
    item, qty, unit, discount, vat, amount = _COLUMNS
    pdf.row(
        [
            (item, labels["item"], "L"),
            (qty, labels["quantity"], "R"),
            (unit, labels["unit_price"], "R"),
            (discount, labels["discount"], "R"),
            (vat, labels["vat_rate"], "R"),
            (amount, labels["amount"], "R"),
        ],
        bold=True,
    )
    pdf.rule()
    for line in r["lines"]:
        name = line["name"] + (f" ({line['returned']})" if line["returned"] else "")
        pdf.row(
            [
                (item, name[:36], "L"),
                (qty, line["quantity"], "R"),
                (unit, line["unit_price"], "R"),
                (discount, line["discount"], "R"),
                (vat, line["vat"], "R"),
                (amount, line["amount"], "R"),
            ]
        )
    pdf.rule()
    if r["adjustment"]:
        pdf.row([(_WIDTH - amount, labels["adjustment"], "L"), (amount, r["adjustment"], "R")])
    pdf.row([(_WIDTH - amount, labels["total"], "L"), (amount, r["total"], "R")], bold=True)

    pdf.heading(labels["vat_heading"])
    pdf.row(
        [
            (30, labels["rate"], "L"),
            (40, labels["vat"], "R"),
            (40, labels["net"], "R"),
            (40, labels["gross"], "R"),
        ],
        bold=True,
    )
    for part in r["vat"]:
        pdf.row(
            [
                (30, part["rate"], "L"),
                (40, part["vat"], "R"),
                (40, part["net"], "R"),
                (40, part["gross"], "R"),
            ]
        )
    pdf.row([(30, labels["vat_total"], "L"), (40, r["vat_total"], "R")], bold=True)

    pdf.heading(labels["points_heading"])
    if not r["rules"]:
        pdf.row([(_WIDTH, labels["no_points"], "L")])
    for name, points in r["rules"]:
        pdf.row([(_WIDTH - 40, name, "L"), (40, points, "R")])
    if r["rules"]:
        pdf.row(
            [(_WIDTH - 40, labels["points_earned"], "L"), (40, r["points_earned"], "R")],
            bold=True,
        )
    if r["points_reversed"]:
        pdf.row([(_WIDTH - 40, labels["points_reversed"], "L"), (40, r["points_reversed"], "R")])

    if r["returns"]:
        pdf.heading(labels["returns_heading"])
        for ret in r["returns"]:
            pdf.row([(_WIDTH - 40, ret["when"], "L"), (40, ret["points"], "R")], bold=True)
            for text in ret["lines"]:
                pdf.row([(_WIDTH, text, "L")])
    return bytes(pdf.output())
