"""The back-office import (members.import_jobs): upload a file, follow its progress, read the
report, then import for real. Administrators only (``members.add_importjob`` and the kind's
own permission)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from members.actors import request_actor
from members.errors import DomainError
from members.import_jobs import (
    import_job_again,
    import_job_create,
    import_job_is_stale,
    import_kind,
    import_kinds,
)
from members.models import ImportJob


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("The file holds"))
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "CSV: UTF-8 (with or without a BOM) or Windows-1252, separated by ; or ,"
        ),
    )
    dry_run = forms.BooleanField(
        label=gettext_lazy("Dry run: check the file and count, write nothing"),
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, kinds: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = kinds


def _kind_label(code: str) -> str:
    kind = import_kind(code)
    return str(kind.label) if kind is not None else code


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "file_name",
        "kind_label",
        "dry_run",
        "status",
        "progress_label",
        "summary",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "dry_run"]
    date_hierarchy = "created_at"

    @admin.display(description=gettext_lazy("what"))
    def kind_label(self, job: ImportJob) -> str:
        return _kind_label(job.kind)

    @admin.display(description=gettext_lazy("progress"))
    def progress_label(self, job: ImportJob) -> str:
        return f"{job.done}/{job.total}" if job.total else "–"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _kinds_for(self, request: HttpRequest) -> list[tuple[str, str]]:
        return [
            (kind.code, str(kind.label))
            for kind in import_kinds()
            if request.user.has_perm(kind.permission)
        ]

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:job_id>/progress/",
                view(self.progress_view),
                name="members_importjob_progress",
            ),
            path(
                "<int:job_id>/again/",
                view(require_POST(self.again_view)),
                name="members_importjob_again",
            ),
            *super().get_urls(),
        ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        kinds = self._kinds_for(request)
        if not kinds:
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None, kinds=kinds)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = import_job_create(
                    kind=form.cleaned_data["kind"],
                    file_name=upload.name,
                    data=upload.read(),
                    dry_run=form.cleaned_data["dry_run"],
                    actor=request_actor(request),
                    language=get_language() or "sv",
                )
            except DomainError as error:
                form.add_error("file", error.message)
            else:
                return HttpResponseRedirect(
                    reverse("admin:members_importjob_change", args=[job.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": _("Import a file"),
            "opts": self.model._meta,
            "templates": [
                (str(kind.label), static(kind.template))
                for kind in import_kinds()
                if (kind.code, str(kind.label)) in kinds
            ],
        }
        return render(request, "admin/members/importjob/upload.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=object_id)
        context = {
            **self.admin_site.each_context(request),
            "job": job,
            "kind_label": _kind_label(job.kind),
            "stale": import_job_is_stale(job),
            "can_run": self.has_add_permission(request)
            and (kind := import_kind(job.kind)) is not None
            and request.user.has_perm(kind.permission)
            and bool(job.file_path),
            "title": job.file_name,
            "opts": self.model._meta,
            "original": job,
        }
        return render(request, "admin/members/importjob/detail.html", context)

    def progress_view(self, request: HttpRequest, job_id: int) -> JsonResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=job_id)
        return JsonResponse(
            {
                "status": job.status,
                "status_label": job.get_status_display(),
                "done": job.done,
                "total": job.total,
                "finished": job.is_finished,
                "stale": import_job_is_stale(job),
            }
        )

    def again_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = get_object_or_404(ImportJob, pk=job_id)
        kind = import_kind(job.kind)
        if not self.has_add_permission(request) or kind is None:
            raise PermissionDenied
        if not request.user.has_perm(kind.permission):
            raise PermissionDenied
        dry_run = request.POST.get("dry_run") == "1"
        try:
            again = import_job_again(job_id=job.pk, dry_run=dry_run, actor=request_actor(request))
        except DomainError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(reverse("admin:members_importjob_change", args=[job.pk]))
        return HttpResponseRedirect(reverse("admin:members_importjob_change", args=[again.pk]))
