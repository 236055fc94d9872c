"""The members app's entries in the processing register (read by ``consent.register``).

``"Model.field": (purpose code, retention code)``; codes are defined in ``consent.register``
and explained in docs/privacy.md. Everything else is listed in ``NOT_PERSONAL``.
"""

PERSONAL_DATA = {
    # The login. Staff logins are users too; their data is kept under "security".
    "User.email": ("membership", "membership"),
    "User.first_name": ("membership", "membership"),
    "User.last_name": ("membership", "membership"),
    "User.password": ("security", "membership"),
    "User.last_login": ("security", "membership"),
    "User.date_joined": ("membership", "membership"),
    # The member.
    "Member.user": ("membership", "membership"),
    "Member.membership_number": ("membership", "membership"),
    "Member.first_name": ("membership", "membership"),
    "Member.last_name": ("membership", "membership"),
    "Member.phone": ("membership", "membership"),
    "Member.birth_date": ("membership", "membership"),
    "Member.preferred_language": ("membership", "membership"),
    "Member.home_store": ("membership", "membership"),
    "Member.joined_at": ("membership", "membership"),
    "Member.join_channel": ("membership", "membership"),
    "Member.card_token": ("membership", "membership"),
    "Member.card_token_rotated_at": ("security", "membership"),
    # The timeline: what the member did. Facts are ids and small values, never copies of
    # contact details; events outlive erasure without personal data (bookkeeping).
    "ActivityEvent.member": ("membership", "bookkeeping"),
    "ActivityEvent.kind": ("membership", "bookkeeping"),
    "ActivityEvent.data": ("membership", "bookkeeping"),
    "ActivityEvent.source": ("membership", "bookkeeping"),
    "ActivityEvent.actor": ("security", "bookkeeping"),
    "ActivityEvent.store": ("membership", "bookkeeping"),
    "ActivityEvent.created_at": ("membership", "bookkeeping"),
}

NOT_PERSONAL = {
    # Login flags and role membership: staff administration, not about the person.
    "User.id",
    "User.is_superuser",
    "User.is_staff",
    "User.is_active",
    "User.groups",
    "User.user_permissions",
    "Member.id",
    # The tombstone's own marker.
    "Member.erased_at",
    "Store.id",
    "Store.code",
    "Store.name",
    "Store.city",
    "Store.kind",
    "Store.status",
    "Store.created_at",
    "ActivityEvent.id",
    # Bookkeeping of event delivery to consumers: ids only.
    "EventConsumption.id",
    "EventConsumption.consumer",
    "EventConsumption.event",
    "EventConsumption.processed_at",
    # Integration keys belong to stores; created_by names a staff login, not a member.
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
}
