"""Least privilege for back-office lists that name members (docs/roles.md, docs/security.md).

Staff without ``consent.browse_members`` (store staff) find members one at a time: every
list that names members (the member list, timelines, balances, purchases, vouchers, ledger
entries...) stays empty until they search, with a search term of at least
``SEARCH_MIN_LENGTH`` characters that matches at most ``SEARCH_MAX_MEMBERS`` members.
Filters, date drill-down, facets, paging and "show all" open nothing on their own. The rule is
applied to the changelist's final queryset (``GuardedChangeList``), so no admin's own search
or filter code can step around it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from members.staff_access import staff_access

BROWSE_PERMISSION = "consent.browse_members"
SEARCH_MIN_LENGTH = 3
SEARCH_MAX_MEMBERS = 10


def _member_id_of(row: Any, path: str) -> Any:
    """The member id of a listed row by ``member_path`` ("member", "referrer", "pk")."""
    if path == "pk":
        return row.pk
    *hops, last = path.split("__")
    for hop in hops:
        row = getattr(row, hop, None)
        if row is None:
            return None
    return getattr(row, f"{last}_id", None)


def may_browse_members(request: HttpRequest) -> bool:
    """Whether this staff member may list members without looking one up."""
    return request.user.has_perm(BROWSE_PERMISSION)


class GuardedChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        queryset = super().get_queryset(request, exclude_parameters)
        guard = self.model_admin
        assert isinstance(guard, MemberListGuard)
        return guard.member_list_guard(request, queryset, self.query)


class OneMemberListLog(admin.ModelAdmin):
    """A list page that shows the rows of exactly one member (a search or a filter narrowed
    it to them) is a staff view of that member's data: one access-log row, view
    ``list:<app>.<model>`` (``members.staff_access``). ``member_path`` is the lookup from
    the listed model to its member; ``log_one_member_lists = False`` for lists about staff,
    not members (the access log itself)."""

    member_path = "member"
    log_one_member_lists = True

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response: HttpResponse = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if (
            self.log_one_member_lists
            and response.status_code == 200
            and changelist is not None
            and request.method == "GET"
        ):
            owners = {_member_id_of(row, self.member_path) for row in changelist.result_list}
            if len(owners) == 1 and None not in owners:
                (member_id,) = owners
                opts = self.model._meta
                staff_access(request, int(member_id), f"list:{opts.app_label}.{opts.model_name}")
        return response


class MemberListGuard(OneMemberListLog):
    """Mix in first; ``member_path`` is the lookup from the listed model to its member."""

    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    list_max_show_all = 0

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return GuardedChangeList

    def member_list_guard(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> QuerySet:
        if may_browse_members(request):
            return queryset
        term = search_term.strip()
        if len(term) < SEARCH_MIN_LENGTH:
            if term:
                self._warn_once(request, _("Search for one member: type at least 3 characters."))
            return queryset.none()
        members = queryset.order_by().values(self.member_path).distinct()
        if len(members[: SEARCH_MAX_MEMBERS + 1]) > SEARCH_MAX_MEMBERS:
            self._warn_once(
                request,
                _(
                    "More than %(n)d members match. Search for one member: membership number, "
                    "mobile number, the whole email address or the full name."
                )
                % {"n": SEARCH_MAX_MEMBERS},
            )
            return queryset.none()
        return queryset

    def _warn_once(self, request: HttpRequest, text: str) -> None:
        # The changelist builds its queryset more than once (filters, date hierarchy).
        if not getattr(request, "_member_list_warned", False):
            request._member_list_warned = True  # type: ignore[attr-defined]
            messages.warning(request, text)
