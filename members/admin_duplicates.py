"""The duplicate review queue in the back-office (issue 15, docs/duplicates.md).

- The list ("Possible duplicates"): open pairs, highest score first, with the reasons in
  words. Pairs whose member was erased or merged meanwhile are not listed.
- The review page (the pair's change page): both members side by side, the panels of
  ``members.duplicate_panels`` row by row, and the decisions: "Merge into this one" under
  each member (``members.merge_member``, a reason and a confirmation) and "Not the same
  person" (``members.change_duplicatecandidate``).

Opening a pair is a staff view of both members' data (``members.staff_access``, view
``duplicate_review``). Each decision is a POST that checks its permission and calls one
service of ``members.duplicates``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.actors import request_actor
from members.duplicate_panels import duplicate_panels_compare
from members.duplicates import (
    RULE_EMAIL,
    RULE_NAME_BIRTH_DATE,
    RULE_NAME_POSTCODE,
    RULE_PHONE,
    duplicate_dismiss,
    duplicate_merge,
)
from members.errors import DomainError
from members.models import DuplicateCandidate, Member
from members.staff_access import staff_access

MERGE_PERMISSION = "members.merge_member"


def reason_text(reason: dict[str, Any]) -> str:
    """One reason of a pair in words, with the names' similarity as a percentage."""
    rule = reason.get("rule", "")
    percent = round(100 * float(reason.get("similarity") or 0))
    if rule == RULE_EMAIL:
        if reason.get("normalised"):
            return _(
                "The same mailbox: the email addresses differ only in dots, a +tag or "
                "capitals (names %(percent)s %% alike)"
            ) % {"percent": percent}
        return _("The same email address (names %(percent)s %% alike)") % {"percent": percent}
    if rule == RULE_PHONE:
        return _("The same mobile number (names %(percent)s %% alike)") % {"percent": percent}
    if rule == RULE_NAME_BIRTH_DATE:
        return _("The same birth date and names %(percent)s %% alike") % {"percent": percent}
    if rule == RULE_NAME_POSTCODE:
        return _("The same postcode and names %(percent)s %% alike") % {"percent": percent}
    return str(rule)


def reasons_text(reasons: list[dict[str, Any]]) -> list[str]:
    return [reason_text(reason) for reason in reasons or []]


def _live(prefix: str) -> Q:
    return Q(**{f"{prefix}__erased_at__isnull": True, f"{prefix}__merged_into__isnull": True})


class DecisionFilter(admin.SimpleListFilter):
    """Waiting for review by default (open pairs of two live members); decided pairs on
    request."""

    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            (DuplicateCandidate.Status.DISMISSED, DuplicateCandidate.Status.DISMISSED.label),
            (DuplicateCandidate.Status.MERGED, DuplicateCandidate.Status.MERGED.label),
        ]

    def choices(self, changelist: Any) -> Iterator[Any]:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": DuplicateCandidate.Status.OPEN.label,
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value in (DuplicateCandidate.Status.DISMISSED, DuplicateCandidate.Status.MERGED):
            return queryset.filter(status=value)
        return queryset.filter(_live("member_a"), _live("member_b"), status="open")


class MergeForm(forms.Form):
    survivor = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=200)
    confirm = forms.BooleanField(
        label=gettext_lazy("I have compared the two: they are the same person.")
    )


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(admin.ModelAdmin):
    list_display = ["score_display", "pair_display", "reasons_display", "found_at", "status"]
    list_display_links = ["pair_display"]
    list_filter = [DecisionFilter]
    list_select_related = ["member_a", "member_b"]
    ordering = ["-score", "-found_at", "pk"]
    actions = None
    show_full_result_count = False

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/merge/",
                view(self.merge_view),
                name="members_duplicatecandidate_merge",
            ),
            path(
                "<int:pk>/dismiss/",
                view(self.dismiss_view),
                name="members_duplicatecandidate_dismiss",
            ),
            *super().get_urls(),
        ]

    # --- the list -----------------------------------------------------------------------

    @admin.display(description=gettext_lazy("score"), ordering="score")
    def score_display(self, obj: DuplicateCandidate) -> str:
        return f"{round(100 * obj.score)} %"

    @admin.display(description=gettext_lazy("members"))
    def pair_display(self, obj: DuplicateCandidate) -> str:
        return " ↔ ".join(
            f"{member.full_name} ({member.formatted_membership_number})"
            for member in (obj.member_a, obj.member_b)
        )

    @admin.display(description=gettext_lazy("reasons"))
    def reasons_display(self, obj: DuplicateCandidate) -> str:
        return "; ".join(reasons_text(obj.reasons))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A decision is remembered for good: "not the same person" must never be forgotten.
        return False

    # --- the review page ----------------------------------------------------------------------

    def _candidate(self, request: HttpRequest, object_id: Any) -> DuplicateCandidate:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        try:
            return DuplicateCandidate.objects.select_related(
                "member_a__user",
                "member_a__home_store",
                "member_b__user",
                "member_b__home_store",
                "decided_by",
            ).get(pk=int(object_id))
        except (ValueError, DuplicateCandidate.DoesNotExist) as exc:
            raise Http404 from exc

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        candidate = self._candidate(request, object_id)
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        first, second = candidate.member_a, candidate.member_b
        for member in (first, second):
            staff_access(request, member.pk, "duplicate_review")
        live = all(m.erased_at is None and m.merged_into_id is None for m in (first, second))
        is_open = candidate.status == DuplicateCandidate.Status.OPEN
        return render(
            request,
            "admin/members/duplicatecandidate/review.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": candidate,
                "title": _("Are these the same person?"),
                "candidate": candidate,
                "score": round(100 * candidate.score),
                "reasons": reasons_text(candidate.reasons),
                "members": [first, second],
                "panels": duplicate_panels_compare(first, second),
                "live": live,
                "can_merge": live and is_open and request.user.has_perm(MERGE_PERMISSION),
                "can_dismiss": live and is_open and self.has_change_permission(request),
                "merge_forms": [
                    MergeForm(initial={"survivor": m.pk}, auto_id=f"id_merge_{m.pk}_%s")
                    for m in (first, second)
                ],
            },
        )

    def merge_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """ "Merge into this one": the other member of the pair is merged into the chosen."""
        candidate = self._candidate(request, pk)
        if not request.user.has_perm(MERGE_PERMISSION):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = MergeForm(request.POST)
        if not form.is_valid():
            messages.error(
                request,
                _("Give a reason and tick the box to confirm that they are the same person."),
            )
            return redirect("admin:members_duplicatecandidate_change", candidate.pk)
        try:
            audit = duplicate_merge(
                candidate_id=candidate.pk,
                survivor_id=form.cleaned_data["survivor"],
                actor=request_actor(request),
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("admin:members_duplicatecandidate_change", candidate.pk)
        survivor = Member.objects.get(pk=audit.survivor_id)
        merged = Member.objects.get(pk=audit.merged_id)
        messages.success(
            request,
            _(
                "Merged: membership %(merged)s is now part of %(name)s's membership "
                "%(number)s. Its number and card lead here."
            )
            % {
                "merged": merged.formatted_membership_number,
                "name": survivor.full_name,
                "number": survivor.formatted_membership_number,
            },
        )
        return redirect("admin:members_member_change", survivor.pk)

    def dismiss_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """ "Not the same person": remembered, the pair is never proposed again."""
        candidate = self._candidate(request, pk)
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            duplicate_dismiss(candidate_id=candidate.pk, actor=request_actor(request))
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("admin:members_duplicatecandidate_change", candidate.pk)
        messages.success(
            request,
            _("Noted: not the same person. The pair will not be proposed again."),
        )
        return redirect("admin:members_duplicatecandidate_changelist")
