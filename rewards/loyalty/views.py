"""Member pages for tiers, rewards, vouchers, challenges, referrals and reviews: parse,
authorise (the logged-in member, only their own rows), call one service, render."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from members.actors import request_actor
from members.errors import DomainError
from members.models import Member
from members.offline import offline_copy
from members.views import member_required
from rewards import selectors
from rewards.loyalty import catalogue, challenges, referrals, reviews, tiers
from rewards.models import Review, Reward, Voucher

REFERRAL_SESSION_KEY = "rewards_referral_code"


def _member(request: HttpRequest) -> Member:
    return request.member  # type: ignore[attr-defined]


def _language() -> str:
    return "sv" if (get_language() or "sv").startswith("sv") else "en"


# --- forms ----------------------------------------------------------------------------------


class ClaimForm(forms.Form):
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)


class BenefitForm(forms.Form):
    def __init__(self, *args: object, benefits: list, picks: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        language = _language()
        self.picks = picks
        self.fields["benefits"] = forms.MultipleChoiceField(
            label=gettext_lazy("Benefits"),
            choices=[(str(b.pk), b.name_for(language)) for b in benefits],
            widget=forms.CheckboxSelectMultiple,
        )

    def clean_benefits(self) -> list[int]:
        chosen = [int(pk) for pk in self.cleaned_data["benefits"]]
        if len(chosen) > self.picks:
            raise ValidationError(
                _("Choose at most %(count)d.") % {"count": self.picks}, code="too_many"
            )
        return chosen


class ReferralForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Invitation code"), max_length=20)


class ReviewForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("What do you want to share?"),
        choices=Review.Kind.choices,
        widget=forms.RadioSelect,
        initial=Review.Kind.REVIEW,
    )
    text = forms.CharField(
        label=gettext_lazy("Your review"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    url = forms.URLField(
        label=gettext_lazy("Link to your post"),
        required=False,
        max_length=500,
        assume_scheme="https",
    )


# --- panel ----------------------------------------------------------------------------------


def tier_panel(request: HttpRequest, member: Member) -> str:
    """The tier panel on "My pages": the tier, a bar and the points left to the next one.
    Nothing without a ladder (no tiers are set up): there is no tier to wait for."""
    progress = tiers.tier_progress(member=member)
    if not progress.tiers:
        return ""
    return render_to_string(
        "rewards/loyalty/_tier_panel.html", {"progress": progress, "language": _language()}
    )  # no request: a panel needs no context processors (members.pages)


def challenge_panel(request: HttpRequest, member: Member) -> str:
    """The nearest challenge on "My pages" (one query); nothing when none is running."""
    row = challenges.challenge_nearest(member=member)
    if row is None:
        return ""
    return render_to_string(
        "rewards/loyalty/_challenge_panel.html", {"row": row, "language": _language()}
    )  # no request: a panel needs no context processors (members.pages)


# --- tiers ----------------------------------------------------------------------------------


@member_required
def tier_page(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    progress = tiers.tier_progress(member=member)
    available = tiers.benefits_available(member=member)
    chosen = tiers.benefits_chosen(member=member)
    picks = progress.current.benefit_picks if progress.current else 0
    form = BenefitForm(request.POST or None, benefits=available, picks=picks)
    if request.method == "POST" and form.is_valid():
        try:
            tiers.benefit_choose(
                member=member,
                benefit_ids=form.cleaned_data["benefits"],
                actor=request_actor(request),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Your benefits are chosen for this month."))
            return redirect("rewards:tiers")
    return render(
        request,
        "rewards/loyalty/tiers.html",
        {
            "progress": progress,
            "language": _language(),
            "benefits": available,
            "chosen": chosen,
            "picks": picks,
            "form": form if available and picks and not chosen else None,
        },
    )


# --- catalogue and claim --------------------------------------------------------------------


@member_required
def catalogue_page(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    kind = request.GET.get("typ", "")
    if kind not in Reward.Kind.values:
        kind = ""
    affordable = request.GET.get("rad") == "1"
    rewards = catalogue.rewards_for_member_list(member=member, kind=kind, affordable=affordable)
    # Each reward's link and kind made here, not by {% url %} and get_kind_display per row
    # (docs/benchmarks.md "Member pages"); reward codes are slugs, as the URL pattern says.
    link = reverse("rewards:reward", args=["-"])[:-2]
    kinds = dict(Reward.Kind.choices)
    return render(
        request,
        "rewards/loyalty/catalogue.html",
        {
            "rows": [
                {"reward": r, "url": f"{link}{r.code}/", "kind": kinds.get(r.kind, r.kind)}
                for r in rewards
            ],
            "kinds": Reward.Kind.choices,
            "kind": kind,
            "affordable": affordable,
            "balance": selectors.balance_get(member=member),
            "language": _language(),
        },
    )


def _reward_for(member: Member, code: str) -> Reward:
    reward = catalogue.rewards_for_member(member=member).filter(code=code).first()
    if reward is None:
        raise Http404
    return reward


@member_required
def reward_page(request: HttpRequest, code: str) -> HttpResponse:
    member = _member(request)
    reward = _reward_for(member, code)
    form = ClaimForm(request.POST or None, initial={"idempotency_key": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        try:
            voucher = catalogue.reward_claim(
                member=member,
                reward=reward,
                idempotency_key=f"web:{member.pk}:{form.cleaned_data['idempotency_key']}",
                actor=request_actor(request),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Done! Here is your voucher."))
            return redirect("rewards:voucher", voucher_id=voucher.pk)
    balance = selectors.balance_get(member=member)
    return render(
        request,
        "rewards/loyalty/reward.html",
        {
            "reward": reward,
            "form": form,
            "balance": balance,
            "affordable": balance["available"] >= reward.points_cost,
            "language": _language(),
        },
    )


@member_required
def waitlist_join(request: HttpRequest, code: str) -> HttpResponse:
    member = _member(request)
    reward = _reward_for(member, code)
    if request.method == "POST":
        try:
            catalogue.waitlist_join(member=member, reward=reward, actor=request_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("You are on the waiting list. We'll tell you if a place opens.")
            )
    return redirect("rewards:reward", code=reward.code)


# --- vouchers -------------------------------------------------------------------------------


@member_required
@offline_copy
def vouchers_page(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    language = _language()
    vouchers, past = catalogue.vouchers_page_lists(member=member)
    usable = [
        {"voucher": v, "qr": catalogue.voucher_qr_svg(v, title=v.formatted_code)} for v in vouchers
    ]
    return render(
        request,
        "rewards/loyalty/vouchers.html",
        {"usable": usable, "past": past, "language": language},
    )


@member_required
def voucher_page(request: HttpRequest, voucher_id: int) -> HttpResponse:
    member = _member(request)
    voucher = get_object_or_404(
        Voucher.objects.select_related("reward"), pk=voucher_id, member=member
    )
    return render(
        request,
        "rewards/loyalty/voucher.html",
        {
            "voucher": voucher,
            "qr": catalogue.voucher_qr_svg(voucher, title=voucher.formatted_code),
            "language": _language(),
            "cancellable": voucher.usable_at()
            and voucher.reward.kind not in (Reward.Kind.PARTNER, Reward.Kind.DONATION),
        },
    )


@member_required
def voucher_cancel(request: HttpRequest, voucher_id: int) -> HttpResponse:
    member = _member(request)
    # Another member's voucher is not found, exactly like an unknown id (docs/security.md).
    if not Voucher.objects.filter(pk=voucher_id, member=member).exists():
        raise Http404
    if request.method == "POST":
        try:
            voucher = catalogue.voucher_cancel(
                voucher_id=voucher_id, member=member, actor=request_actor(request)
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("rewards:voucher", voucher_id=voucher_id)
        messages.success(
            request,
            _("The voucher is cancelled and %(points)d points are back in your account.")
            % {"points": voucher.points_spent},
        )
        return redirect("rewards:vouchers")
    return redirect("rewards:voucher", voucher_id=voucher_id)


# --- challenges -----------------------------------------------------------------------------


@member_required
def challenges_page(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    rows = challenges.challenges_for_member(member=member)
    return render(
        request,
        "rewards/loyalty/challenges.html",
        {
            "rows": rows,
            "next_row": challenges.next_to_complete(rows),
            "badges": challenges.badges_for_member(member=member),
            "streak": challenges.purchase_week_streak(member=member),
            "language": _language(),
        },
    )


# --- referrals ------------------------------------------------------------------------------


def referral_link(request: HttpRequest, code: str) -> HttpResponse:
    """The shared link: remember the code for after sign-up, then show the join page."""
    request.session[REFERRAL_SESSION_KEY] = referrals.referral_code_normalise(code)
    return redirect("account_signup")


@member_required
def referral_page(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    code = referrals.referral_code_for(member=member)
    remembered = request.session.get(REFERRAL_SESSION_KEY, "")
    form = ReferralForm(request.POST or None, initial={"code": remembered})
    if request.method == "POST" and form.is_valid():
        try:
            referrals.referral_register(
                referred=member, code=form.cleaned_data["code"], actor=request_actor(request)
            )
        except DomainError as exc:
            form.add_error("code", exc.message)
        else:
            request.session.pop(REFERRAL_SESSION_KEY, None)
            messages.success(
                request, _("Thank you! You both get points after your first purchase.")
            )
            return redirect("rewards:referrals")
    invited_by = getattr(member, "referred_by", None)
    return render(
        request,
        "rewards/loyalty/referrals.html",
        {
            "code": code,
            "link": request.build_absolute_uri(reverse("rewards:referral-link", args=[code.code])),
            "form": None if invited_by else form,
            "invited_by": invited_by,
            "referrals": referrals.referrals_for_member(member=member),
        },
    )


# --- reviews --------------------------------------------------------------------------------


@member_required
def reviews_page(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reviews.review_submit(
                member=member,
                kind=form.cleaned_data["kind"],
                text=form.cleaned_data["text"],
                url=form.cleaned_data["url"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Thank you! We'll read it and add your points soon."))
            return redirect("rewards:reviews")
    return render(
        request,
        "rewards/loyalty/reviews.html",
        {"form": form, "reviews": Review.objects.filter(member=member).order_by("-submitted_at")},
    )
