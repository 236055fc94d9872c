from importlib import import_module
from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self) -> None:
        from django.contrib import admin
        from django.db.models.signals import post_migrate

        from members import roles
        from members.admin_auth import RateLimitedAdminAuthenticationForm

        # The back-office log-in counts failures like the members' (docs/security.md).
        admin.site.login_form = RateLimitedAdminAuthenticationForm

        # Roles (groups) are shown by their label in the page's language wherever the
        # back-office names a group: user lists, filters, the groups picker.
        from django.contrib.auth.models import Group

        Group.__str__ = _group_str  # type: ignore[method-assign]

        # Keep the staff role groups in step with permissions that later migrations add.
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="members.roles.sync")

        # drf-spectacular's schema extensions register themselves when their module loads.
        import_module("members.api.openapi")

        # The staff desk's timeline section (the other sections come from higher apps).
        from members import desk, desk_views

        desk.desk_section_register(
            name="members.timeline", order=90, render=desk_views.timeline_section
        )

        # Duplicates (docs/duplicates.md): the pairs follow a merge; the review page's
        # profile panel; the review queue's admin (autodiscovery finds members.admin only).
        from members import duplicate_panels, duplicates
        from members.merging import merge_step_register

        merge_step_register(
            name="members.duplicates", run=duplicates.duplicates_after_merge, order=15
        )
        duplicate_panels.duplicate_panel_register(
            name="members",
            order=10,
            title=_("Membership"),
            facts=duplicate_panels.member_profile_facts,
        )
        import_module("members.admin_duplicates")

        # members' part of a merge (members.merging); consent, rewards and campaigns
        # register theirs from their own ready().
        from members import merging

        merging.merge_step_register(name="members", run=merging.members_merge_step, order=10)

        # The back-office import's admin lives in its own module (autodiscovery looks for
        # members.admin only).
        import_module("members.admin_imports")

        # The back-office upload's first kind (rewards registers balances and purchases).
        from members.import_jobs import import_kind_register
        from members.imports import members_import

        import_kind_register(
            code="members",
            label=_("Members"),
            run=members_import,
            permission="members.add_member",
            template="import/members.csv",
            order=10,
        )


def _group_str(group: Any) -> str:
    from members import roles

    return roles.role_label(group.name)
