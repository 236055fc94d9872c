"""Base classes shared by the apps' back-office (model admins)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from members.kronor import KronorField


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services only (books, logs, computed tables): the back-office reads
    them, never adds, changes or deletes one."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def labelled_filter(
    field: str, title: Any, labels: Mapping[str, Any]
) -> type[admin.SimpleListFilter]:
    """A list filter on a code column without model choices, offering the codes' labels
    (``members.labels``) instead of the raw values."""

    class LabelledFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
            return sorted(labels.items(), key=lambda item: str(item[1]))

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    LabelledFilter.title = title
    return LabelledFilter


class KronorAdminMixin(admin.ModelAdmin):
    """Mix in first. ``kronor_fields`` maps an öre column to its label in kronor: the form
    shows and takes kronor ("12,50"), and the model keeps whole öre (1250)."""

    kronor_fields: Mapping[str, Any] = {}

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in self.kronor_fields:
            return KronorField(
                label=self.kronor_fields[db_field.name],
                required=not db_field.blank,
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)
