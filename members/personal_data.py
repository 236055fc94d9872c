"""The members app's entries in the processing register (docs/architecture.md).

Plain data, read by consent's register. Identity and contact details serve the membership
and go with it; the timeline is kept as long as the membership (its events carry ids and
small facts, never copies of personal data). Stores, integration keys and the consumers'
bookkeeping hold nothing about a member.
"""

from django.utils.translation import gettext_lazy as _

PERSONAL_DATA = {
    # "Model.field": (purpose code, retention code)
    "User.email": ("membership", "membership"),
    "User.password": ("membership", "membership"),
    "User.first_name": ("membership", "membership"),
    "User.last_name": ("membership", "membership"),
    "User.last_login": ("security", "membership"),
    "User.date_joined": ("membership", "membership"),
    "User.is_active": ("membership", "membership"),
    "Member.user": ("membership", "membership"),
    "Member.membership_number": ("membership", "membership"),
    "Member.first_name": ("membership", "membership"),
    "Member.last_name": ("membership", "membership"),
    "Member.phone": ("membership", "membership"),
    "Member.birth_date": ("membership", "membership"),
    "Member.preferred_language": ("membership", "membership"),
    "Member.home_store": ("membership", "membership"),
    "Member.postcode": ("membership", "membership"),
    # The member's key in the system they were imported from; kept on an erased member's
    # tombstone so that re-running an old import file never brings them back (docs/import.md).
    "Member.external_id": ("membership", "membership"),
    "Member.joined_at": ("membership", "membership"),
    "Member.join_channel": ("membership", "membership"),
    "Member.card_token": ("membership", "membership"),
    "Member.card_token_rotated_at": ("security", "membership"),
    # Duplicate candidates and merges (members.duplicates, members.merging): which two
    # memberships may be, or were, one person. Reasons are rule codes, never copies.
    "DuplicateCandidate.member_a": ("membership", "membership"),
    "DuplicateCandidate.member_b": ("membership", "membership"),
    "DuplicateCandidate.score": ("membership", "membership"),
    "DuplicateCandidate.reasons": ("membership", "membership"),
    "DuplicateCandidate.status": ("membership", "membership"),
    "DuplicateCandidate.found_at": ("membership", "membership"),
    "DuplicateCandidate.decided_at": ("membership", "membership"),
    "DuplicateCandidate.decided_by": ("security", "membership"),
    "MemberMerge.survivor": ("membership", "membership"),
    "MemberMerge.merged": ("membership", "membership"),
    "MemberMerge.actor": ("security", "membership"),
    "MemberMerge.reason": ("membership", "membership"),
    "MemberMerge.moved": ("membership", "membership"),
    "MemberMerge.created_at": ("membership", "membership"),
    # A back-office import's report quotes the file's values (names, emails, phones of the
    # lines it rejected): kept for IMPORT_JOB_RETENTION_DAYS, then purged with the job.
    "ImportJob.report": ("membership", "import_report"),
    "ActivityEvent.member": ("membership", "membership"),
    "ActivityEvent.kind": ("membership", "membership"),
    "ActivityEvent.data": ("membership", "membership"),
    "ActivityEvent.source": ("membership", "membership"),
    "ActivityEvent.actor": ("security", "membership"),
    "ActivityEvent.store": ("membership", "membership"),
    "ActivityEvent.created_at": ("membership", "membership"),
    # The outbox of public events (members.outbox, docs/webhooks.md): ids and small facts
    # about what a member did, like the timeline, for the integrations the club chose; rows
    # are deleted after WEBHOOKS_OUTBOX_KEEP_DAYS.
    "OutboxEvent.member": ("membership", "membership"),
    "OutboxEvent.type": ("membership", "membership"),
    "OutboxEvent.store": ("membership", "membership"),
    "OutboxEvent.data": ("membership", "membership"),
    "OutboxEvent.occurred_at": ("membership", "membership"),
}

NOT_PERSONAL = {
    # Staff flags and permissions (the user row's personal fields are above).
    "User.id",
    "User.is_superuser",
    "User.is_staff",
    "User.groups",
    "User.user_permissions",
    "Member.id",
    # The tombstone marker: when the member was anonymised, kept so the books keep an owner.
    "Member.erased_at",
    # The merge's tombstone markers (members.merging), like erased_at: the merge itself, who
    # and when, is the member's data in MemberMerge (exported).
    "Member.merged_into",
    "Member.merged_at",
    "ActivityEvent.id",
    "DuplicateCandidate.id",
    "MemberMerge.id",
    "ImportJob.id",
    # Where the uploaded file waits in the private storage (the file itself is removed when
    # a real run has finished with it, at the latest with the job), and the staff member who
    # uploaded it (staff, like ApiKey.created_by).
    "ImportJob.file_path",
    "ImportJob.created_by",
    "ImportJob.kind",
    "ImportJob.file_name",
    "ImportJob.dry_run",
    "ImportJob.language",
    "ImportJob.status",
    "ImportJob.done",
    "ImportJob.total",
    "ImportJob.imported",
    "ImportJob.unchanged",
    "ImportJob.rejected",
    "ImportJob.summary",
    "ImportJob.problems_total",
    "ImportJob.error",
    "ImportJob.created_at",
    "ImportJob.started_at",
    "ImportJob.heartbeat_at",
    "ImportJob.finished_at",
    "Store.id",
    "Store.code",
    "Store.name",
    "Store.city",
    "Store.kind",
    "Store.status",
    "Store.created_at",
    "Store.door_key",  # the door poster's secret (members.door): a store's, nobody's personal data
    "EventConsumption.id",
    "EventConsumption.consumer",
    "EventConsumption.event",
    "EventConsumption.processed_at",
    "ApiKey.id",
    "ApiKey.store",
    "ApiKey.name",
    "ApiKey.prefix",
    "ApiKey.secret_hash",
    "ApiKey.scopes",
    "ApiKey.created_at",
    "ApiKey.created_by",
    "ApiKey.revoked_at",
    "ApiKey.last_used_at",
    # The event's own identifiers and the payload's version (members.outbox).
    "OutboxEvent.id",
    "OutboxEvent.uuid",
    "OutboxEvent.version",
    "OutboxEvent.position",
}

# Plain words for the privacy notice and Mina data (consent.processing_register.field_label).
LABELS = {
    "OutboxEvent": _("Events told to the club's integrations"),
    "OutboxEvent.type": _("kind of event"),
}
