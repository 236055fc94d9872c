"""The marketer's back-office: segments (builder with live count, CSV lists), offers,
campaigns with variants, preview for a member, simulation, test send, launch, cancel and a
progress page. Every change goes through campaigns' services (``authoring``, ``sending``,
``offers``)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext_lazy as _

from campaigns import selectors
from campaigns.authoring import (
    campaign_cancel,
    campaign_launch,
    campaign_save,
    campaign_test_send,
    offer_reward_code_check,
    offer_save,
    segment_import_csv,
    segment_save,
    variant_delete,
    variant_save,
)
from campaigns.errors import CampaignStateError, SegmentCriteriaError
from campaigns.labels import CHANNEL_LABELS, DELIVERY_REASON_LABELS
from campaigns.models import Campaign, Delivery, MemberOffer, Offer, Segment, Variant
from campaigns.segments import criteria_validate
from campaigns.selectors import reward_choices
from campaigns.sending import rendering
from campaigns.sending.channels import MARKETING_CHANNELS
from members.actors import request_actor
from members.admin_base import labelled_filter
from members.admin_guard import MemberListGuard
from members.errors import DomainError
from members.labels import label_for
from members.models import Member
from members.pictures.admin import PictureAdminForm, PictureAdminMixin
from members.staff_access import staff_access

# What the segment builder offers: field -> (label, kind of parameters). The values of the
# "codes" kinds are chosen from lists (``selectors.segment_builder_choices``).
BUILDER_FIELDS = [
    ("tier", _("Tier"), "codes"),
    ("points_balance", _("Points balance"), "number"),
    ("points_earned", _("Points earned (in the last N days)"), "number_days"),
    ("spend", _("Spend in SEK (in the last N days)"), "number_days"),
    ("purchase_count", _("Number of purchases (in the last N days)"), "number_days"),
    ("days_since_purchase", _("Days since last purchase"), "number"),
    ("bought_category", _("Bought in category"), "codes_days"),
    ("bought_product", _("Bought product"), "codes_days"),
    ("store", _("Store"), "codes"),
    ("channel", _("Bought in channel (store / webshop)"), "codes_days"),
    ("age", _("Age range"), "range"),
    ("language", _("Language"), "codes"),
    ("interest", _("Interest"), "codes"),
    ("consent", _("Consent to purpose"), "codes"),
    ("days_since_checkin", _("Days since last check-in"), "number"),
    ("member_since_days", _("Member for N days"), "number"),
]


def _builder_texts() -> dict[str, str]:
    """The builder's own words, in the page's language (the script has no catalogue)."""
    return {
        "not": str(_("not")),
        "remove": str(_("Remove")),
        "value": str(_("Value")),
        "days": str(_("in the last N days")),
        "min": str(_("from")),
        "max": str(_("to")),
        "compare": str(_("Comparison")),
        "condition": str(_("Condition")),
        "codes": str(_("Codes, comma separated")),
        "filter": str(_("Filter the list")),
        "choose": str(_("Choose one or more")),
        "empty": str(_("Nothing to choose from yet.")),
        "gone": str(_("%(code)s (no longer exists)")),
        "mode": str(_("Which store")),
        "mode_home": str(_("home store")),
        "mode_purchased": str(_("bought in the store")),
    }


def _criteria_from_request(request: HttpRequest) -> Any:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as error:
        raise SegmentCriteriaError(_("The criteria are not valid JSON.")) from error
    return body.get("criteria") if isinstance(body, dict) else None


class SegmentForm(forms.ModelForm):
    criteria = forms.JSONField(
        label=_("Criteria (JSON; the builder above writes it)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField", "data-criteria": "1"}),
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "criteria"]

    def clean_criteria(self) -> Any:
        criteria = self.cleaned_data.get("criteria") or {}
        if not isinstance(criteria, dict):
            raise ValidationError(_("The criteria must be a JSON object."))
        try:
            criteria_validate(criteria)
        except DomainError as error:
            raise ValidationError(error.message) from error
        return criteria


class CsvImportForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    file = forms.FileField(label=_("CSV of membership numbers or email addresses"))


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "kind", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name"]
    change_form_template = "admin/campaigns/segment/change_form.html"
    change_list_template = "admin/campaigns/segment/change_list.html"
    readonly_fields = ["import_report_display"]

    def get_fields(self, request: HttpRequest, obj: Segment | None = None) -> Any:
        if obj is not None and obj.kind == Segment.Kind.STATIC:
            return ["name", "description", "import_report_display"]
        return ["name", "description", "criteria"]

    @admin.display(description=_("Import report"))
    def import_report_display(self, obj: Segment) -> str:
        report = obj.import_report or {}
        lines, matched = report.get("lines", 0), report.get("matched", 0)
        duplicates, rejected = report.get("duplicates", 0), report.get("rejected", 0)
        return " · ".join(
            [
                ngettext("%(n)d line", "%(n)d lines", lines) % {"n": lines},
                ngettext("%(n)d member", "%(n)d members", matched) % {"n": matched},
                ngettext("%(n)d duplicate", "%(n)d duplicates", duplicates) % {"n": duplicates},
                ngettext("%(n)d rejected", "%(n)d rejected", rejected) % {"n": rejected},
            ]
        )

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        saved = segment_save(
            name=form.cleaned_data["name"],
            description=form.cleaned_data.get("description", ""),
            criteria=form.cleaned_data.get("criteria") or {},
            segment=obj if change else None,
            actor=request_actor(request),
        )
        obj.pk = saved.pk

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("count/", view(self.count_view), name="campaigns_segment_count"),
            path("import/", view(self.import_view), name="campaigns_segment_import"),
            *super().get_urls(),
        ]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        choices = selectors.segment_builder_choices(get_language() or "sv")
        extra = {
            **(extra_context or {}),
            "builder_fields": [
                {"field": f, "label": str(label), "kind": kind, "choices": choices.get(f)}
                for f, label, kind in BUILDER_FIELDS
            ],
            "builder_texts": _builder_texts(),
        }
        return super().changeform_view(request, object_id, form_url, extra)

    def count_view(self, request: HttpRequest) -> JsonResponse:
        """The live count (and a small sample) for criteria being edited. POST JSON
        ``{"criteria": {...}}``; errors come back as ``{"error": {...}}`` with status 400."""
        if not self.has_view_permission(request) or request.method != "POST":
            raise PermissionDenied
        try:
            criteria = _criteria_from_request(request)
            count = selectors.segment_count(criteria)
            sample = selectors.segment_sample(criteria, size=5)
        except DomainError as error:
            return JsonResponse(
                {"error": {"code": error.code, "message": error.message}}, status=400
            )
        return JsonResponse(
            {
                "count": count,
                "count_label": ngettext("matching member", "matching members", count),
                "sample": [
                    {"number": m.formatted_membership_number, "name": m.first_name} for m in sample
                ],
            }
        )

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CsvImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                segment = segment_import_csv(
                    name=form.cleaned_data["name"],
                    content=form.cleaned_data["file"].read(),
                    actor=request_actor(request),
                )
            except ValidationError as error:
                form.add_error("file", error)
            else:
                report = segment.import_report
                matched, rejected = report["matched"], report["rejected"]
                messages.success(
                    request,
                    ngettext("%(n)d member on the list", "%(n)d members on the list", matched)
                    % {"n": matched}
                    + "; "
                    + ngettext("%(n)d line not used.", "%(n)d lines not used.", rejected)
                    % {"n": rejected},
                )
                return redirect("admin:campaigns_segment_change", segment.pk)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": _("Upload a list of members"),
            "opts": self.model._meta,
        }
        return render(request, "admin/campaigns/segment/import.html", context)


class OfferForm(PictureAdminForm):
    class Meta:
        model = Offer
        fields = [
            "name",
            "kind",
            "title_sv",
            "title_en",
            "body_sv",
            "body_en",
            "multiplier",
            "category",
            "product",
            "bonus_days",
            "activate_days",
            "reward_code",
            "image_alt_sv",
            "image_alt_en",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The reward is chosen from the catalogue by name, not typed as a code; a saved code
        # whose reward is gone stays choosable and says so (saving again keeps it).
        saved = (self.instance.reward_code or "") if self.instance.pk else ""
        choices = [("", "—"), *reward_choices(get_language() or "sv")]
        if saved and saved not in {code for code, _label in choices}:
            choices.append((saved, _("%(code)s (no longer in the catalogue)") % {"code": saved}))
        self.fields["reward_code"] = forms.ChoiceField(
            label=_("Reward"),
            choices=choices,
            required=False,
            help_text=_("For a reward offer: the voucher or invitation the member collects."),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The same check offer_save makes, shown as a form error next to the field.
        try:
            offer_reward_code_check(
                kind=cleaned.get("kind") or "", reward_code=cleaned.get("reward_code") or ""
            )
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned


@admin.register(Offer)
class OfferAdmin(PictureAdminMixin, admin.ModelAdmin):
    form = OfferForm
    list_display = [
        "image_thumbnail",
        "name",
        "kind",
        "title_sv",
        "multiplier",
        "category",
        "bonus_days",
        "activate_days",
    ]
    list_filter = ["kind"]
    search_fields = ["name", "title_sv", "title_en"]
    # Chosen by name, never typed as an id: a category from the list, a product by typing
    # its name or SKU (a catalogue may hold thousands).
    autocomplete_fields = ["product"]

    def save_model(self, request: HttpRequest, obj: Offer, form: Any, change: bool) -> None:
        fields = {f: form.cleaned_data.get(f) for f in OfferForm.Meta.fields}
        fields["reward_code"] = fields.get("reward_code") or ""
        saved = offer_save(offer=obj if change else None, **fields)
        obj.pk = saved.pk
        self.picture_save(saved, form)


class VariantInline(admin.StackedInline):
    model = Variant
    extra = 0
    min_num = 1
    fields = [
        ("code", "weight", "offer"),
        ("email_subject_sv", "email_subject_en"),
        ("email_text_sv", "email_text_en"),
        ("email_html_sv", "email_html_en"),
        ("sms_text_sv", "sms_text_en"),
    ]


class CampaignForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        choices=[(c, CHANNEL_LABELS[c]) for c in MARKETING_CHANNELS],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("In priority order: email, then SMS, then the member page."),
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "segment",
            "channels",
            "priority",
            "holdout_percent",
            "test_group_size",
            "goal",
            "goal_days",
            "schedule_kind",
            "send_at",
            "crontab",
            "trigger",
            "trigger_days",
        ]

    def clean_channels(self) -> list[str]:
        chosen = self.cleaned_data.get("channels") or []
        return [c for c in MARKETING_CHANNELS if c in chosen]


# A launched campaign is shown read-only: its channels by their names, not as a JSON list.
_READONLY_NAMES = {"channels": "channels_display"}


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    inlines = [VariantInline]
    list_display = [
        "name",
        "status",
        "segment",
        "schedule_kind",
        "send_at",
        "priority",
        "progress_link",
    ]
    list_filter = ["status", "schedule_kind"]
    search_fields = ["name"]
    change_form_template = "admin/campaigns/campaign/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            # "channels" stays read-only too, so the form never takes it; it is not shown.
            return [*(_READONLY_NAMES.get(f, f) for f in CampaignForm.Meta.fields), "channels"]
        return []

    def get_fields(self, request: HttpRequest, obj: Campaign | None = None) -> Any:
        fields = super().get_fields(request, obj)
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return [f for f in fields if f not in _READONLY_NAMES]
        if obj is not None and not self.has_change_permission(request, obj):
            # View-only roles see every field read-only: the channels by their names too.
            return list(
                dict.fromkeys(
                    _READONLY_NAMES.get(f, f) if isinstance(f, str) else f for f in fields
                )
            )
        return fields

    @admin.display(description=_("Channels"))
    def channels_display(self, obj: Campaign) -> str:
        return ", ".join(label_for(CHANNEL_LABELS, channel) for channel in obj.channels or [])

    def get_form(
        self, request: HttpRequest, obj: Campaign | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # A sent campaign's deliveries are its results and protect it (PROTECT): the page
        # says how many instead of loading and listing each one, which for 100,000 took
        # the admin's collector 40 s, past gunicorn's timeout.
        deliveries = Delivery.objects.filter(campaign__in=objs).count()
        if deliveries:
            label = capfirst(Delivery._meta.verbose_name_plural)
            return [], {}, set(), [f"{label}: {number_format(deliveries, force_grouping=True)}"]
        return super().get_deleted_objects(objs, request)

    @admin.display(description=_("Progress"))
    def progress_link(self, obj: Campaign) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:campaigns_campaign_progress", args=[obj.pk]),
            _("Progress"),
        )

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        fields = {f: form.cleaned_data.get(f) for f in CampaignForm.Meta.fields}
        fields["crontab"] = fields.get("crontab") or ""
        fields["trigger"] = fields.get("trigger") or ""
        existing = Campaign.objects.get(pk=obj.pk) if change else None
        try:
            saved = campaign_save(campaign=existing, **fields)
        except CampaignStateError as error:
            # Launched (perhaps in another tab) since the form was opened: nothing is saved.
            messages.error(request, error.message)
            obj.status = existing.status if existing else obj.status
            return
        obj.pk = saved.pk
        obj.status = saved.status

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # The admin's change message reads these; variants are saved by the service below.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        campaign = form.instance
        if campaign.status != Campaign.Status.DRAFT:
            return
        campaign = Campaign.objects.get(pk=campaign.pk)
        for inline_form in formset.forms:
            if not inline_form.has_changed() and inline_form.instance.pk is None:
                continue
            data = inline_form.cleaned_data
            if not data:
                continue
            fields = {
                k: v for k, v in data.items() if k not in ("id", "campaign", "DELETE", "code")
            }
            try:
                if data.get("DELETE"):
                    if inline_form.instance.pk:
                        variant_delete(campaign=campaign, variant_id=inline_form.instance.pk)
                    continue
                variant_save(campaign=campaign, code=data.get("code") or "A", **fields)
            except CampaignStateError as error:
                messages.error(request, error.message)
                return

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/preview/", view(self.preview_view), name="campaigns_campaign_preview"),
            path(
                "<int:pk>/simulate/", view(self.simulate_view), name="campaigns_campaign_simulate"
            ),
            path(
                "<int:pk>/test-send/",
                view(self.test_send_view),
                name="campaigns_campaign_test_send",
            ),
            path("<int:pk>/launch/", view(self.launch_view), name="campaigns_campaign_launch"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="campaigns_campaign_cancel"),
            path(
                "<int:pk>/progress/", view(self.progress_view), name="campaigns_campaign_progress"
            ),
            path(
                "<int:pk>/progress.json",
                view(self.progress_json_view),
                name="campaigns_campaign_progress_json",
            ),
            *super().get_urls(),
        ]

    def _campaign(self, request: HttpRequest, pk: int, *, change: bool = False) -> Campaign:
        campaign = get_object_or_404(Campaign.objects.select_related("segment"), pk=pk)
        allowed = (
            self.has_change_permission(request, campaign)
            if change
            else self.has_view_permission(request, campaign)
        )
        if not allowed:
            raise PermissionDenied
        return campaign

    def _render(
        self, request: HttpRequest, template: str, campaign: Campaign, **context: Any
    ) -> HttpResponse:
        return render(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": campaign,
                "campaign": campaign,
                **context,
            },
        )

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Exactly what a member would get, in their language, for any sample member."""
        campaign = self._campaign(request, pk)
        variants = list(campaign.variants.select_related("offer").order_by("code"))
        audience = (
            selectors.segment_members(campaign.segment)
            if campaign.segment
            else Member.objects.filter(erased_at__isnull=True)
        )
        number = (request.GET.get("member") or "").replace(" ", "")
        member = None
        if number:
            member = Member.objects.filter(membership_number=number, erased_at__isnull=True).first()
            if member is None:
                messages.error(request, _("No member has that number."))
        member = member or audience.order_by("pk").first()
        previews = []
        if member is not None:
            for variant in variants:
                previews.append(
                    {
                        "variant": variant,
                        **rendering.preview(campaign=campaign, variant=variant, member=member),
                    }
                )
        sample = list(audience.order_by("-pk")[:8])
        if member is not None:
            # the message rendered with the member's name and data: a view of them
            staff_access(request, member.pk, "campaign_preview")
        return self._render(
            request,
            "admin/campaigns/campaign/preview.html",
            campaign,
            member=member,
            previews=previews,
            sample=sample,
            title=_("Preview"),
        )

    def simulate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk)
        result = selectors.campaign_simulate(campaign)
        return self._render(
            request,
            "admin/campaigns/campaign/simulate.html",
            campaign,
            result=result,
            reached=[
                (
                    variant,
                    label_for(CHANNEL_LABELS, channel),
                    n,
                )
                for key, n in result["reached"].items()
                for variant, _sep, channel in [key.partition("/")]
            ],
            suppressed=[
                (label_for(DELIVERY_REASON_LABELS, reason), n)
                for reason, n in result["suppressed"].items()
            ],
            title=_("Simulation"),
        )

    def test_send_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk, change=True)
        if request.method == "POST":
            variant = campaign.variants.filter(code=request.POST.get("variant", "A")).first()
            email = str(request.POST.get("email") or getattr(request.user, "email", ""))
            language = request.POST.get("language", "sv")
            if variant is not None and language in ("sv", "en"):
                try:
                    campaign_test_send(
                        campaign=campaign,
                        variant=variant,
                        email=email,
                        language=language,
                        actor=request_actor(request),
                    )
                except ValidationError as error:
                    messages.error(request, "; ".join(error.messages))
                else:
                    messages.success(request, _("Test sent to %(email)s.") % {"email": email})
        return redirect("admin:campaigns_campaign_preview", pk)

    def launch_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk, change=True)
        if request.method != "POST":
            return redirect("admin:campaigns_campaign_change", pk)
        try:
            campaign_launch(campaign=campaign, actor=request_actor(request))
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("admin:campaigns_campaign_change", pk)
        messages.success(request, _("The campaign is launched."))
        return redirect("admin:campaigns_campaign_progress", pk)

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk, change=True)
        if request.method == "POST":
            try:
                n = campaign_cancel(campaign=campaign, actor=request_actor(request))
            except DomainError as error:
                messages.error(request, error.message)
            else:
                messages.success(
                    request,
                    ngettext(
                        "Cancelled; %(n)s message will not be sent.",
                        "Cancelled; %(n)s messages will not be sent.",
                        n,
                    )
                    % {"n": n},
                )
        return redirect("admin:campaigns_campaign_progress", pk)

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk)
        return self._render(
            request,
            "admin/campaigns/campaign/progress.html",
            campaign,
            progress=_progress_labelled(selectors.campaign_progress(campaign)),
            title=_("Progress"),
        )

    def progress_json_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        campaign = self._campaign(request, pk)
        return JsonResponse(_progress_labelled(selectors.campaign_progress(campaign)))


def _progress_labelled(progress: dict[str, Any]) -> dict[str, Any]:
    """The progress counters with the status's and the reasons' labels for the page (the
    codes stay for the page's script, which polls until the status is final)."""
    return {
        **progress,
        "status_label": str(Campaign.Status(progress["status"]).label),
        "reason_labels": {
            label_for(DELIVERY_REASON_LABELS, reason): n
            for reason, n in progress["reasons"].items()
        },
    }


@admin.register(Delivery)
class DeliveryAdmin(MemberListGuard, admin.ModelAdmin):
    list_display = [
        "id",
        "campaign",
        "member",
        "channel_label",
        "status",
        "reason_label",
        "sent_at",
    ]
    list_filter = [
        "status",
        labelled_filter("channel", _("channel"), CHANNEL_LABELS),
        labelled_filter("reason", _("reason"), DELIVERY_REASON_LABELS),
    ]
    raw_id_fields = ["campaign", "member", "variant"]
    list_select_related = ["campaign", "member"]
    search_fields = ["member__membership_number"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The codes' labels in place of the codes (members.labels).
        names = {"channel": "channel_label", "reason": "reason_label"}
        return list(
            dict.fromkeys(
                names.get(f, f) if isinstance(f, str) else f
                for f in super().get_fields(request, obj)
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "channel_label", "reason_label"]

    @admin.display(description=_("channel"), ordering="channel")
    def channel_label(self, obj: Delivery) -> str:
        return label_for(CHANNEL_LABELS, obj.channel)

    @admin.display(description=_("reason"), ordering="reason")
    def reason_label(self, obj: Delivery) -> str:
        return label_for(DELIVERY_REASON_LABELS, obj.reason) if obj.reason else ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MemberOffer)
class MemberOfferAdmin(MemberListGuard, admin.ModelAdmin):
    list_display = ["member", "offer", "campaign", "status", "activated_at", "active_until"]
    list_filter = ["status"]
    raw_id_fields = ["member", "offer", "campaign", "delivery"]
    list_select_related = ["member", "offer", "campaign"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Store staff may activate a member's offer at the desk (change_memberoffer), which
        # must not open the list of every member's offers here.
        return request.user.has_perm("campaigns.view_memberoffer")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
