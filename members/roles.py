"""Staff roles as groups with permissions (documented in docs/roles.md).

Permissions are named as ``app_label.codename`` patterns, so that a role keeps up with the
models later issues add: after every ``migrate`` the groups are brought in step (see
``MembersConfig.ready``); the first data migration creates them.
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

from django.utils.translation import gettext_lazy as _

STORE_STAFF = "Store staff"
MARKETER = "Marketer"
DATA_PROTECTION_OFFICER = "Data protection officer"
ADMINISTRATOR = "Administrator"

# The roles as staff read them; the group names stay in English (they are the roles' keys).
ROLE_LABELS: dict[str, Any] = {
    STORE_STAFF: _("Store staff"),
    MARKETER: _("Marketer"),
    DATA_PROTECTION_OFFICER: _("Data protection officer"),
    ADMINISTRATOR: _("Administrator"),
}


def role_label(name: str) -> str:
    """A group's name in the page's language (a group that is not a role keeps its name)."""
    label = ROLE_LABELS.get(name)
    return str(label) if label is not None else name


ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Serve members at the till and the door: look up, check in, adjust points with a reason.
    # Never delete anything, never export in bulk.
    STORE_STAFF: [
        "members.view_member",
        "members.change_member",
        "members.view_store",
        "members.view_activityevent",
        "rewards.view_*",
        "rewards.adjust_points",
        "rewards.add_checkin",
        "rewards.moderate_submission",
        "rewards.change_voucher",
        "campaigns.view_offer*",
        # activate a member's offer at the desk (campaigns.desk); the admin edits none
        "campaigns.change_memberoffer",
    ],
    # Segments, campaigns, offers and rewards; sees members only through segments' counts
    # and samples, never their raw contact details in bulk.
    MARKETER: [
        "members.view_store",
        "campaigns.*",
        "rewards.view_*",
        "rewards.add_reward",
        "rewards.change_reward",
        "rewards.add_earningrule",
        "rewards.change_earningrule",
        "rewards.*_challenge",
        "rewards.*_partnercode",
        "rewards.*_badge",
        "consent.view_purpose",
        "consent.view_interest",
    ],
    # Consent proof, requests (export, erasure), retention, the access log; the duplicate
    # review queue: decide whether two members are one person, and merge them.
    DATA_PROTECTION_OFFICER: [
        "members.view_member",
        "members.view_user",
        "members.view_activityevent",
        "members.view_duplicatecandidate",
        "members.change_duplicatecandidate",
        "members.merge_member",
        "members.view_membermerge",
        "consent.*",
        "rewards.view_*",
        "campaigns.view_*",
    ],
    # Everything but being a superuser: configure stores, keys, roles and rules.
    ADMINISTRATOR: [
        "*.*",
    ],
}


# Models whose rows belong to one member (a record, a ledger, a delivery). A role listed here
# gets none of their permissions, whatever its patterns say: the Marketer sees members only
# through segment counts and samples and campaign results, never one member's rows.
MEMBER_LEVEL_MODELS = [
    "members.member",
    "members.activityevent",
    "members.duplicatecandidate",
    "members.membermerge",
    "consent.consentevent",
    "consent.privacyrequest",
    "consent.accesslog",
    "rewards.ledgerentry",
    "rewards.pointbalance",
    "rewards.pointlot",
    "rewards.purchase",
    "rewards.purchaseline",
    "rewards.reservation",
    "rewards.checkin",
    "rewards.membertier",
    "rewards.tierchange",
    "rewards.benefitchoice",
    "rewards.voucher",
    "rewards.waitlistentry",
    "rewards.challengeprogress",
    "rewards.memberbadge",
    "rewards.referral",
    "rewards.referralcode",
    "rewards.review",
    "campaigns.delivery",
    "campaigns.memberoffer",
    "campaigns.inboxmessage",
    "campaigns.contactbudget",
    "campaigns.memberrecommendation",
    "campaigns.segmentmember",
]
ROLES_WITHOUT_MEMBER_LEVEL = {MARKETER}

# Models only Administrators get, whatever another role's patterns say (the data protection
# officer's ``consent.*``): webhook endpoints send member data out of the club and hold their
# signing secrets; their delivery log goes with them (consent.webhooks.admin).
ADMINISTRATOR_ONLY_MODELS = [
    "consent.webhookendpoint",
    "consent.webhookdelivery",
    "consent.webhookattempt",
]


def _member_level(app_label: str, model: str) -> bool:
    return f"{app_label}.{model}" in MEMBER_LEVEL_MODELS


def roles_sync() -> None:
    """Create the role groups and give each exactly the permissions its patterns match."""
    from django.contrib.auth.models import Group, Permission

    permissions = list(Permission.objects.select_related("content_type"))
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = [
            p
            for p in permissions
            if any(fnmatch(f"{p.content_type.app_label}.{p.codename}", pat) for pat in patterns)
            and not (
                role in ROLES_WITHOUT_MEMBER_LEVEL
                and _member_level(p.content_type.app_label, p.content_type.model)
            )
            and not (
                role != ADMINISTRATOR
                and f"{p.content_type.app_label}.{p.content_type.model}"
                in ADMINISTRATOR_ONLY_MODELS
            )
        ]
        group.permissions.set(wanted)


def sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    """Run once per ``migrate``, after the last app's permissions have been created."""
    from django.apps import apps

    with_models = [c for c in apps.get_app_configs() if c.models_module is not None]
    if with_models and sender.label == with_models[-1].label:
        roles_sync()
