"""The rewards sections of the staff desk (members.desk) and their actions.

Sections: points and tier (with check-in and adjust points), vouchers (with "use in store"),
the latest purchases with their lines, and challenges in progress. Each action is a POST to
a view here that checks its permission and calls one service; the answer goes back to the
customer view as a message.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from members.actors import request_staff
from members.desk_views import desk_view
from members.errors import DomainError
from members.models import Member, Store
from rewards.forms import AdjustPointsForm
from rewards.ledger.points import points_adjust
from rewards.loyalty.catalogue import voucher_redeem, vouchers_usable
from rewards.loyalty.challenges import challenges_for_member
from rewards.loyalty.tiers import tier_progress
from rewards.models import Challenge, Reward, Tier, Voucher
from rewards.rules.events import checkin_record_by_staff
from rewards.selectors import (
    checkins_today,
    points_summary,
    purchase_lines_rows,
    purchases_for_member_rows,
)

DESK_STORE_SESSION_KEY = "desk_store"
PURCHASES_SHOWN = 5


def _desk_store(request: HttpRequest, member: Member) -> int | None:
    chosen = request.session.get(DESK_STORE_SESSION_KEY)
    return int(chosen) if chosen else member.home_store_id


def points_section(request: HttpRequest, member: Member) -> str:
    user = request.user
    return render_to_string(
        "admin/desk/rewards_points.html",
        {
            "member": member,
            "language": member.preferred_language,
            "progress": tier_progress(member=member),
            "summary": points_summary(member=member, pending_limit=5, expiry_limit=1),
            "stores": list(Store.objects.order_by("name").values_list("pk", "name")),
            "store_id": _desk_store(request, member),
            "can_check_in": user.has_perm("rewards.add_checkin"),
            "can_see_history": user.has_perm("rewards.view_pointbalance"),
            "adjust_form": AdjustPointsForm(initial={"idempotency_key": f"desk:{uuid.uuid4()}"})
            if user.has_perm("rewards.adjust_points")
            else None,
        },
        request=request,
    )


def vouchers_section(request: HttpRequest, member: Member) -> str:
    return render_to_string(
        "admin/desk/rewards_vouchers.html",
        {
            "member": member,
            "language": member.preferred_language,
            "vouchers": list(vouchers_usable(member=member)[:20]),
            "can_use": request.user.has_perm("rewards.change_voucher"),
            "stores": list(Store.objects.order_by("name").values_list("pk", "name")),
            "store_id": _desk_store(request, member),
        },
        request=request,
    )


def purchases_section(request: HttpRequest, member: Member) -> str:
    purchases = list(purchases_for_member_rows(member=member)[:PURCHASES_SHOWN])
    lines = purchase_lines_rows([p["id"] for p in purchases])
    return render_to_string(
        "admin/desk/rewards_purchases.html",
        {
            "member": member,
            "purchases": [(p, lines.get(p["id"], [])) for p in purchases],
            # the receipt page (rewards.receipt_views.desk_receipt) needs it too
            "can_see_receipts": request.user.has_perm("rewards.view_purchase"),
        },
    )


def challenges_section(request: HttpRequest, member: Member) -> str:
    rows = [row for row in challenges_for_member(member=member) if row.completed_at is None]
    return render_to_string(
        "admin/desk/rewards_challenges.html",
        {"rows": rows, "language": member.preferred_language},
    )


def arrivals_part(request: HttpRequest) -> str:
    """ "Arrived today" on the desk's first page, for the store chosen last (or every store
    before one is chosen); the page asks for it again every
    ``DESK_ARRIVALS_REFRESH_SECONDS``."""
    store_id = request.session.get(DESK_STORE_SESSION_KEY)
    store = Store.objects.filter(pk=store_id).first() if store_id else None
    return render_to_string(
        "admin/desk/rewards_arrivals.html",
        {
            "checkins": checkins_today(store_id=store.pk if store else None),
            "store": store,
            "refresh_seconds": settings.DESK_ARRIVALS_REFRESH_SECONDS,
        },
        request=request,
    )


@desk_view
def arrivals(request: HttpRequest) -> HttpResponse:
    """The arrivals list alone, for the desk page's refresh."""
    return HttpResponse(arrivals_part(request))


# --- actions ----------------------------------------------------------------------------------


def _member(member_id: int) -> Member:
    return get_object_or_404(Member, pk=member_id, erased_at__isnull=True)


def _back(member: Member) -> HttpResponse:
    return HttpResponseRedirect(reverse("desk:member", args=[member.pk]))


def _store(request: HttpRequest) -> Store | None:
    store_id = request.POST.get("store", "")
    store = Store.objects.filter(pk=int(store_id)).first() if store_id.isdigit() else None
    if store is not None:
        request.session[DESK_STORE_SESSION_KEY] = store.pk
    return store


def _permitted(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


@desk_view
@require_POST
def check_in(request: HttpRequest, member_id: int) -> HttpResponse:
    _permitted(request, "rewards.add_checkin")
    member = _member(member_id)
    store = _store(request)
    if store is None:
        messages.error(request, _("Choose the store the member is in."))
        return _back(member)
    _checkin, entries = checkin_record_by_staff(
        member=member, store=store, staff=request_staff(request)
    )
    points = sum(entry.points for entry in entries)
    if points:
        messages.success(
            request,
            _("%(name)s is checked in at %(store)s and earned %(points)s points.")
            % {"name": member.first_name, "store": store.name, "points": points},
        )
    else:
        messages.success(
            request,
            _("%(name)s is checked in at %(store)s.")
            % {"name": member.first_name, "store": store.name},
        )
    return _back(member)


@desk_view
@require_POST
def adjust_points(request: HttpRequest, member_id: int) -> HttpResponse:
    _permitted(request, "rewards.adjust_points")
    member = _member(member_id)
    form = AdjustPointsForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else str(error))
        return _back(member)
    try:
        points_adjust(
            member=member,
            points=form.cleaned_data["points"],
            reason=form.cleaned_data["reason"],
            actor=request_staff(request),
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("%(points)s points were adjusted: %(reason)s")
            % {"points": form.cleaned_data["points"], "reason": form.cleaned_data["reason"]},
        )
    return _back(member)


@desk_view
@require_POST
def voucher_use(request: HttpRequest, member_id: int, voucher_id: int) -> HttpResponse:
    _permitted(request, "rewards.change_voucher")
    member = _member(member_id)
    voucher = get_object_or_404(Voucher, pk=voucher_id, member=member)
    store = _store(request)
    if store is None:
        messages.error(request, _("Choose the store the member is in."))
        return _back(member)
    try:
        voucher_redeem(
            code=voucher.code,
            store=store,
            idempotency_key=f"desk:{voucher.pk}",
            reference=f"desk:{request.user.pk}",
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The voucher was marked as used."))
    return _back(member)


def _named_in_page_language(model: type[Tier] | type[Reward] | type[Challenge]) -> Any:
    """A resolver for the timeline's sentences: a row's id -> its name in the page's
    language (None when the row is gone)."""

    def resolve(pk: str) -> str | None:
        if not pk.isdigit():
            return None
        row = model.objects.filter(pk=int(pk)).values("name_sv", "name_en").first()
        if row is None:
            return None
        return str(row["name_sv"] if get_language().startswith("sv") else row["name_en"])

    return resolve


def desk_sections_register() -> None:
    """Called from ``RewardsConfig.ready``."""
    from members.desk import desk_home_register, desk_section_register
    from members.labels import fact_name_register

    fact_name_register("reward", _named_in_page_language(Reward))
    fact_name_register("tier", _named_in_page_language(Tier))
    fact_name_register("challenge", _named_in_page_language(Challenge))

    desk_home_register(name="rewards.arrivals", render=arrivals_part)
    desk_section_register(name="rewards.points", order=10, render=points_section)
    desk_section_register(name="rewards.vouchers", order=20, render=vouchers_section)
    desk_section_register(name="rewards.purchases", order=40, render=purchases_section)
    desk_section_register(name="rewards.challenges", order=60, render=challenges_section)
