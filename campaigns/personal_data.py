"""The campaigns app's entries in the processing register (format: docs/architecture.md).

Deliveries, offers received and the inbox are marketing data about a member: kept 13 months
after sending ("messages"), then purged by the retention job. The contact budget is how many
messages a member got in a week. Segments, offers, campaigns and variants hold nothing
about a member; the test channel's provider log holds ids only.
"""

from django.utils.translation import gettext_lazy as _

from campaigns.personalisation.personal_data import NOT_PERSONAL as _PERSONALISATION_NOT_PERSONAL
from campaigns.personalisation.personal_data import (
    PERSONAL_DATA as _PERSONALISATION_PERSONAL_DATA,
)

PERSONAL_DATA = {
    "SegmentMember.segment": ("profiling", "until_withdrawn"),
    "SegmentMember.member": ("profiling", "until_withdrawn"),
    "SegmentMember.added_at": ("profiling", "until_withdrawn"),
    "Delivery.campaign": ("marketing_email", "messages"),
    "Delivery.variant": ("marketing_email", "messages"),
    "Delivery.member": ("marketing_email", "messages"),
    "Delivery.channel": ("marketing_email", "messages"),
    "Delivery.occurrence": ("marketing_email", "messages"),
    "Delivery.status": ("marketing_email", "messages"),
    "Delivery.reason": ("marketing_email", "messages"),
    "Delivery.attempts": ("marketing_email", "messages"),
    "Delivery.not_before": ("marketing_email", "messages"),
    "Delivery.created_at": ("marketing_email", "messages"),
    "Delivery.queued_at": ("marketing_email", "messages"),
    "Delivery.budget_taken": ("marketing_email", "messages"),
    "Delivery.claimed_at": ("marketing_email", "messages"),
    "Delivery.sent_at": ("marketing_email", "messages"),
    "Delivery.provider_ref": ("marketing_email", "messages"),
    "Delivery.opened_at": ("analytics", "messages"),
    "Delivery.clicked_at": ("analytics", "messages"),
    "Delivery.activated_at": ("marketing_email", "messages"),
    "Delivery.redeemed_at": ("marketing_email", "messages"),
    "MemberOffer.member": ("membership", "messages"),
    "MemberOffer.offer": ("membership", "messages"),
    "MemberOffer.campaign": ("membership", "messages"),
    "MemberOffer.delivery": ("membership", "messages"),
    "MemberOffer.status": ("membership", "messages"),
    "MemberOffer.created_at": ("membership", "messages"),
    "MemberOffer.activated_at": ("membership", "messages"),
    "MemberOffer.active_until": ("membership", "messages"),
    "MemberOffer.available_until": ("membership", "messages"),
    "InboxMessage.member": ("profiling", "messages"),
    "InboxMessage.delivery": ("profiling", "messages"),
    "InboxMessage.title": ("profiling", "messages"),
    "InboxMessage.body": ("profiling", "messages"),
    "InboxMessage.created_at": ("profiling", "messages"),
    "InboxMessage.read_at": ("profiling", "messages"),
    "ContactBudget.member": ("membership", "messages"),
    "ContactBudget.week": ("membership", "messages"),
    "ContactBudget.used": ("membership", "messages"),
}

NOT_PERSONAL = {
    "Segment.id",
    "Segment.name",
    "Segment.description",
    "Segment.kind",
    "Segment.criteria",
    # Counts, line numbers and reasons of an upload, never the uploaded values (a rejected
    # line is often someone's phone or email; campaigns migration 0004 removed old ones).
    # Names, descriptions and reports are still searched on erasure (free_text_register).
    "Segment.import_report",
    "Segment.created_by",
    "Segment.created_at",
    "Segment.updated_at",
    "SegmentMember.id",
    "Offer.id",
    "Offer.name",
    "Offer.activate_days",
    "Offer.kind",
    "Offer.title_sv",
    "Offer.title_en",
    "Offer.body_sv",
    "Offer.body_en",
    "Offer.multiplier",
    "Offer.category",
    "Offer.product",
    "Offer.bonus_days",
    "Offer.reward_code",
    "Offer.created_at",
    "Offer.image",  # pictures are staff content, never a member's (docs/pictures.md)
    "Offer.image_sizes",
    "Offer.image_alt_sv",
    "Offer.image_alt_en",
    "Campaign.id",
    "Campaign.name",
    "Campaign.segment",
    "Campaign.status",
    "Campaign.priority",
    "Campaign.channels",
    "Campaign.holdout_percent",
    "Campaign.test_group_size",
    "Campaign.goal",
    "Campaign.goal_days",
    "Campaign.schedule_kind",
    "Campaign.send_at",
    "Campaign.crontab",
    "Campaign.trigger",
    "Campaign.trigger_days",
    "Campaign.occurrence",
    "Campaign.launched_at",
    "Campaign.launched_by",
    "Campaign.finished_at",
    "Campaign.cancelled_at",
    "Campaign.created_at",
    "Variant.id",
    "Variant.campaign",
    "Variant.code",
    "Variant.weight",
    "Variant.offer",
    "Variant.email_subject_sv",
    "Variant.email_subject_en",
    "Variant.email_html_sv",
    "Variant.email_html_en",
    "Variant.email_text_sv",
    "Variant.email_text_en",
    "Variant.sms_text_sv",
    "Variant.sms_text_en",
    "Delivery.id",
    "MemberOffer.id",
    "InboxMessage.id",
    "ContactBudget.id",
    # The data-quality page's nightly counts: numbers per problem, no member in them.
    "DataQualitySnapshot.id",
    "DataQualitySnapshot.taken_on",
    "DataQualitySnapshot.taken_at",
    "DataQualitySnapshot.counts",
    "ProviderCall.id",
    "ProviderCall.delivery_id",
    "ProviderCall.channel",
    "ProviderCall.idempotency_key",
    "ProviderCall.created_at",
    "ProviderCall.accepted",
    "FanoutChunk.id",
    "FanoutChunk.campaign",
    "FanoutChunk.occurrence",
    "FanoutChunk.low",
    "FanoutChunk.high",
    "FanoutChunk.variant",
    "FanoutChunk.limit",
    "FanoutChunk.queued_at",
    "FanoutChunk.done_at",
}

# Personalisation (affinities, recommendations): classified beside its models.
PERSONAL_DATA.update(_PERSONALISATION_PERSONAL_DATA)
NOT_PERSONAL |= _PERSONALISATION_NOT_PERSONAL

# Plain words for the privacy notice and Mina data where a field's own verbose name is English
# only (consent.processing_register.field_label).
LABELS = {
    "SegmentMember.added_at": _("added to the list"),
}
