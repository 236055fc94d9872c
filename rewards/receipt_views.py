"""Digital receipts (docs/member-pages.md "Receipts"): the member's receipt page and its PDF,
and the staff desk's receipt page (docs/desk.md).

The views parse, authorise, read the receipt (``rewards.purchases.receipts.receipt_read``)
and render. A member sees only their own purchases: another member's receipt answers 404,
exactly like an id that does not exist. Dates and amounts go through ``members.formats``.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from members.desk_views import desk_view
from members.formats import datetime_short, kronor_short, number_grouped
from members.models import Member
from members.staff_access import staff_access
from members.views import member_required
from rewards.purchases.receipt_pdf import receipt_pdf_render
from rewards.purchases.receipts import Receipt, receipt_read


def _language() -> str:
    return "en" if (get_language() or "sv").startswith("en") else "sv"


def _points(points: int, language: str) -> str:
    """``299 poäng``; points taken back with a minus sign, ``−49 poäng``."""
    sign = "\u2212" if points < 0 else ""
    return ngettext("%(counter)s point", "%(counter)s points", abs(points)) % {
        "counter": sign + number_grouped(abs(points), language)
    }


def receipt_texts(receipt: Receipt, language: str) -> dict[str, Any]:
    """Every text of a receipt in ``language``, formatted: the page and the PDF print them."""
    with translation.override(language):
        return _receipt_texts(receipt, language)


def _receipt_texts(receipt: Receipt, language: str) -> dict[str, Any]:

    def kr(ore: int) -> str:
        return kronor_short(ore, language)

    lines = [
        {
            "name": line.name,
            "sku": line.sku,
            "quantity": number_grouped(line.quantity, language),
            "unit_price": kr(line.unit_price_ore),
            "discount": kr(-line.discount_ore) if line.discount_ore else "",
            "vat": f"{line.vat_percent}\u00a0%",
            "amount": kr(line.amount_ore),
            "returned": ngettext("%(n)s returned", "%(n)s returned", line.returned_quantity)
            % {"n": line.returned_quantity}
            if line.returned_quantity
            else "",
        }
        for line in receipt.lines
    ]
    vat = [
        {
            "rate": f"{part.percent}\u00a0%",
            "vat": kr(part.vat_ore),
            "net": kr(part.net_ore),
            "gross": kr(part.gross_ore),
        }
        for part in receipt.vat
    ]
    returns = [
        {
            "when": _("Returned %(time)s in %(store)s")
            % {"time": datetime_short(ret.created_at, language), "store": ret.store},
            "lines": [
                _("%(quantity)s × %(item)s") % {"quantity": quantity, "item": line.name}
                for line, quantity in ret.lines
            ],
            "points": _points(-ret.points_reversed, language) if ret.points_reversed else "",
        }
        for ret in receipt.returns
    ]
    return {
        "title": _("Receipt"),
        "club": _("Kundklubben"),
        "store": receipt.store,
        "time": datetime_short(receipt.purchased_at, language),
        "receipt_id": receipt.receipt_id,
        "lines": lines,
        "total": kr(receipt.total_ore),
        "adjustment": kr(receipt.adjustment_ore) if receipt.adjustment_ore else "",
        "vat": vat,
        "vat_total": kr(receipt.vat_total_ore),
        "rules": [(name, _points(points, language)) for name, points in receipt.rules(language)],
        "points_earned": _points(receipt.points_earned, language),
        "points_reversed": _points(-receipt.points_reversed, language)
        if receipt.points_reversed
        else "",
        "returns": returns,
        "labels": {
            "store": _("Store"),
            "time": _("Time"),
            "receipt_id": _("Receipt number"),
            "item": _("Item"),
            "quantity": _("Qty"),
            "unit_price": _("Unit price"),
            "discount": _("Discount"),
            "vat_rate": _("VAT"),
            "rate": _("Rate"),
            "amount": _("Amount"),
            "total": _("Total"),
            "adjustment": _("Rounding and other adjustments"),
            "vat_heading": _("VAT per rate"),
            "vat": _("VAT"),
            "net": _("Net"),
            "gross": _("Incl. VAT"),
            "vat_total": _("Of which VAT"),
            "points_heading": _("Points for the purchase"),
            "points_earned": _("Points earned"),
            "points_reversed": _("Taken back by returns"),
            "no_points": _("This purchase earned no points."),
            "returns_heading": _("Returns"),
        },
    }


def _receipt_of_member(request: HttpRequest, purchase_id: int) -> Receipt:
    member: Member = request.member  # type: ignore[attr-defined]
    receipt = receipt_read(purchase_id=purchase_id, member_id=member.pk)
    if receipt is None:  # another member's purchase, or none: the same answer
        raise Http404
    return receipt


@member_required
def receipt_page(request: HttpRequest, purchase_id: int) -> HttpResponse:
    receipt = _receipt_of_member(request, purchase_id)
    return render(
        request,
        "rewards/receipt.html",
        {"receipt": receipt, "r": receipt_texts(receipt, _language())},
    )


def _filename(receipt: Receipt) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", receipt.receipt_id).strip("-.") or str(
        receipt.purchase_id
    )
    return f"{_('receipt')}-{safe}.pdf"


def _pdf_response(receipt: Receipt, language: str) -> HttpResponse:
    """The receipt as a PDF download in ``language``; never stored by a shared cache."""
    with translation.override(language):
        filename = _filename(receipt)
    response = HttpResponse(
        receipt_pdf_render(receipt_texts(receipt, language)), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    patch_cache_control(response, private=True, no_store=True)
    return response


@member_required
def receipt_pdf(request: HttpRequest, purchase_id: int) -> HttpResponse:
    return _pdf_response(_receipt_of_member(request, purchase_id), _language())


def _desk_receipt(request: HttpRequest, member_id: int, purchase_id: int) -> tuple[Member, Receipt]:
    """The member and their receipt for the staff desk: seeing members and purchases."""
    if not request.user.has_perm("rewards.view_purchase"):
        raise PermissionDenied
    member = get_object_or_404(Member, pk=member_id, erased_at__isnull=True)
    receipt = receipt_read(purchase_id=purchase_id, member_id=member.pk)
    if receipt is None:
        raise Http404
    return member, receipt


@desk_view
def desk_receipt(request: HttpRequest, member_id: int, purchase_id: int) -> HttpResponse:
    """A member's receipt at the staff desk; a staff access."""
    member, receipt = _desk_receipt(request, member_id, purchase_id)
    response = TemplateResponse(
        request,
        "admin/desk/receipt.html",
        {
            **admin.site.each_context(request),
            "is_nav_sidebar_enabled": False,
            "title": _("Receipt"),
            "member": member,
            "receipt": receipt,
            "r": receipt_texts(receipt, _language()),
        },
    )
    staff_access(request, member.pk, "desk:receipt")
    return response


@desk_view
def desk_receipt_pdf(request: HttpRequest, member_id: int, purchase_id: int) -> HttpResponse:
    """A copy of the receipt for the customer at the desk ("kvittokopia"), as a PDF in the
    member's own language, whatever the back-office's; a staff access."""
    member, receipt = _desk_receipt(request, member_id, purchase_id)
    response = _pdf_response(receipt, "en" if member.preferred_language == "en" else "sv")
    staff_access(request, member.pk, "desk:receipt-pdf")
    return response
