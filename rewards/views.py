"""Member pages for points: the panel on "My pages" and the full points page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet, Window
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from members.errors import DomainError
from members.models import Member
from members.views import member_required
from rewards import selectors
from rewards.forms import ClaimPurchaseForm
from rewards.services import purchase_claim


def _history_rows(entries: list, language: str) -> list[dict]:
    return [
        {
            "entry": entry,
            "signed": entry.delta_pending + entry.delta_posted,
            "lines": lines,
        }
        for entry, lines in zip(entries, selectors.entries_text(entries, language), strict=True)
    ]


def page_counted(queryset: QuerySet[Any], per_page: int, number: Any) -> Page:
    """``Paginator(queryset, per_page).get_page(number)`` in one query instead of two: the
    total rides along on every row as ``COUNT(*) OVER ()``. A number past the end falls
    back to the paginator (the last page), as ``get_page`` does."""
    try:
        wanted = max(1, int(number))
    except (TypeError, ValueError):
        wanted = 1
    start = (wanted - 1) * per_page
    rows = list(queryset.annotate(_page_total=Window(Count("pk")))[start : start + per_page])
    if not rows and wanted > 1:
        return Paginator(queryset, per_page).get_page(wanted)
    paginator = Paginator(rows, per_page)
    paginator.count = rows[0]._page_total if rows else 0
    return Page(rows, wanted, paginator)


def points_panel(request: HttpRequest, member: Member) -> str:
    """The points panel on "My pages": available, pending and the next expiry."""
    summary = selectors.points_summary(member=member, pending_limit=1, expiry_limit=1)
    return render_to_string(
        "rewards/_points_panel.html",
        {"balance": summary.balance, "pending": summary.pending, "expiries": summary.expiries},
        request=request,
    )


@member_required
def points(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    language = get_language() or "sv"
    page = page_counted(selectors.ledger_history(member=member), 20, request.GET.get("page"))
    purchases = page_counted(
        selectors.purchases_for_member(member=member), 10, request.GET.get("kop")
    )
    summary = selectors.points_summary(member=member)
    return render(
        request,
        "rewards/points.html",
        {
            "member": member,
            "balance": summary.balance,
            "pending": summary.pending,
            "expiries": summary.expiries,
            "page": page,
            "rows": _history_rows(list(page.object_list), language),
            "purchases": purchases,
            "claim_form": ClaimPurchaseForm(),
        },
    )


@member_required
def claim(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    form = ClaimPurchaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            purchase = purchase_claim(
                member=member,
                store=form.cleaned_data["store"],
                receipt_id=form.cleaned_data["receipt_id"],
                total_ore=form.total_ore,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("The purchase is now yours: %(points)d points.")
                % {"points": purchase.points_earned - purchase.points_reversed},
            )
            return redirect("rewards:points")
    return render(request, "rewards/claim.html", {"form": form})
