"""Every field of the members app is classified once in members/personal_data.py."""

from __future__ import annotations

from django.apps import apps

from members.personal_data import NOT_PERSONAL, PERSONAL_DATA


def _fields() -> set[str]:
    names = set()
    for model in apps.get_app_config("members").get_models():
        for field in model._meta.get_fields():
            if field.auto_created and not field.concrete:
                continue
            if field.concrete or field.many_to_many:
                names.add(f"{model.__name__}.{field.name}")
    return names


def test_every_members_field_is_classified_exactly_once():
    fields = _fields()
    assert set(PERSONAL_DATA) & NOT_PERSONAL == set()
    assert fields - set(PERSONAL_DATA) - NOT_PERSONAL == set(), "unclassified"
    assert (set(PERSONAL_DATA) | NOT_PERSONAL) - fields == set(), "no such field"


def test_contact_details_are_personal_data_for_the_membership():
    for key in ("Member.phone", "Member.birth_date", "User.email", "Member.first_name"):
        assert PERSONAL_DATA[key] == ("membership", "membership")
