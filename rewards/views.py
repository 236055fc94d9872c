"""Member pages for points: the panel on "My pages" and the full points page."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
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


def points_panel(request: HttpRequest, member: Member) -> str:
    """The points panel on "My pages": available, pending and the next expiry."""
    return render_to_string(
        "rewards/_points_panel.html",
        {
            "balance": selectors.balance_get(member=member),
            "pending": selectors.pending_by_date(member=member)[:1],
            "expiries": selectors.upcoming_expiries(member=member, limit=1),
        },
        request=request,
    )


@member_required
def points(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    language = get_language() or "sv"
    page = Paginator(selectors.ledger_history(member=member), 20).get_page(request.GET.get("page"))
    purchases = Paginator(selectors.purchases_for_member(member=member), 10).get_page(
        request.GET.get("kop")
    )
    return render(
        request,
        "rewards/points.html",
        {
            "member": member,
            "balance": selectors.balance_get(member=member),
            "pending": selectors.pending_by_date(member=member),
            "expiries": selectors.upcoming_expiries(member=member),
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
