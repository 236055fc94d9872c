"""The back-office side of pictures: an upload field, "remove the picture", and a preview as
members see it. The form checks the file (nothing is stored when it is refused); the admin
hands it to ``members.pictures.services`` after the row is saved."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from members.pictures import services
from members.pictures.models import PictureFields

ACCEPT = "image/jpeg,image/png,image/webp"
PICTURE_FIELDS = ["picture", "picture_remove", "image_preview", "image_alt_sv", "image_alt_en"]


class PictureAdminForm(forms.ModelForm):
    """The base of a picture model's admin form (subclass it with your own ``Meta``)."""

    picture = forms.FileField(
        label=_("Picture"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )
    picture_remove = forms.BooleanField(label=_("Remove the picture"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["picture"].help_text = _(
            "JPEG, PNG or WebP, at most %(max)s MB, ideally 1280 pixels wide or more (16:9). "
            "It is resized for phones and its camera data (EXIF) removed."
        ) % {"max": services.max_bytes() // 1_000_000}

    def clean_picture(self) -> Any:
        upload = self.cleaned_data.get("picture")
        if upload:
            try:
                services.picture_open(upload)
            except services.PictureError as error:
                raise forms.ValidationError(error.message, code=error.code) from error
        return upload


class PictureAdminMixin(admin.ModelAdmin):
    """For the admin of a model with ``PictureFields``: put it before ``admin.ModelAdmin``."""

    form = PictureAdminForm

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Without fieldsets the abstract model's fields would come first: put them last.
        fields = list(super().get_fields(request, obj))
        last = [f for f in PICTURE_FIELDS if f in fields]
        return [f for f in fields if f not in last] + last

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "image_preview"]

    @admin.display(description=_("Picture as members see it"))
    def image_preview(self, obj: PictureFields | None) -> SafeString | str:
        if obj is None or not obj.image_sizes:
            return "–"
        width, height, name = obj.image_sizes[min(1, len(obj.image_sizes) - 1)]
        return format_html(
            '<img src="{}" alt="{}" width="{}" height="{}" loading="lazy">',
            services.default_storage.url(name),
            obj.image_alt_for("sv"),
            width,
            height,
        )

    @admin.display(description=_("picture"))
    def image_thumbnail(self, obj: PictureFields) -> SafeString | str:
        if not obj.image_sizes:
            return ""
        width, height, name = obj.image_sizes[0]
        return format_html(
            '<img src="{}" alt="" width="64" height="{}" loading="lazy">',
            services.default_storage.url(name),
            max(1, round(64 * height / width)),
        )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self.picture_save(obj, form)

    def picture_save(self, obj: Any, form: Any) -> None:
        upload = form.cleaned_data.get("picture")
        if upload:
            services.picture_attach(obj=obj, upload=upload)
        elif form.cleaned_data.get("picture_remove") and obj.image_sizes:
            services.picture_remove(obj=obj)
