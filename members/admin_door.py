"""The door poster in the back-office: on a store's page, "Door poster" (a printable SVG)
and "New door code" (every printed poster of the store stops working). docs/desk.md."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from members.door import door_poster_svg
from members.models import Store
from members.services import store_door_key_rotate


class DoorPosterAdminMixin(admin.ModelAdmin):
    change_form_template = "admin/members/store/change_form.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:store_id>/door-poster/",
                self.admin_site.admin_view(self.door_poster_view),
                name="members_store_door_poster",
            ),
            path(
                "<int:store_id>/door-code/",
                self.admin_site.admin_view(require_POST(self.door_code_view)),
                name="members_store_door_code",
            ),
            *super().get_urls(),
        ]

    def door_poster_view(self, request: HttpRequest, store_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        store = get_object_or_404(Store, pk=store_id, kind=Store.Kind.STORE)
        response = HttpResponse(
            door_poster_svg(store, base_url=request.build_absolute_uri("/")),
            content_type="image/svg+xml",
        )
        response["Content-Disposition"] = f'inline; filename="door-{store.code}.svg"'
        return response

    def door_code_view(self, request: HttpRequest, store_id: int) -> HttpResponse:
        store = get_object_or_404(Store, pk=store_id, kind=Store.Kind.STORE)
        if not self.has_change_permission(request, store):
            raise PermissionDenied
        store_door_key_rotate(store=store)
        self.log_change(request, store, _("New door code: earlier posters no longer work."))
        messages.success(
            request,
            _("%(store)s has a new door code. Print the new poster: the old ones no longer work.")
            % {"store": store.name},
        )
        return HttpResponseRedirect(reverse("admin:members_store_change", args=[store.pk]))
