"""The processing register: every field of every local app is classified, exactly once."""

from __future__ import annotations

import pytest
from django.db import models

from consent import processing_register
from consent.processing_register import REGISTER_PURPOSES, RETENTION_CODES, register_check


def test_register_check_every_model_field_is_classified():
    problems = register_check()

    assert problems.missing_module == [], "apps with models but no personal_data.py"
    assert problems.unclassified == [], "fields neither personal nor marked not personal"
    assert problems.both == []
    assert problems.unknown_entries == [], "entries for fields that do not exist"
    assert problems.bad_codes == []


def test_register_check_covers_every_local_app():
    assert set(processing_register.local_app_labels()) >= {
        "members",
        "consent",
        "rewards",
        "campaigns",
    }


def test_register_check_fails_for_a_new_unclassified_field(monkeypatch):
    # Given a model that gains a field nobody classified
    from members.models import Member

    field = models.CharField(max_length=10, blank=True)
    field.set_attributes_from_name("shoe_size")
    field.model = Member
    real = processing_register.classified_fields

    def with_extra(model):
        names = real(model)
        return [*names, "shoe_size"] if model is Member else names

    monkeypatch.setattr(processing_register, "classified_fields", with_extra)

    problems = register_check()

    assert "members: Member.shoe_size" in problems.unclassified


def test_register_check_fails_for_an_app_with_models_but_no_register(monkeypatch):
    real = processing_register.register_module
    monkeypatch.setattr(
        processing_register,
        "register_module",
        lambda label: None if label == "consent" else real(label),
    )

    assert register_check().missing_module == ["consent"]


def test_register_codes_are_defined_in_consent():
    assert {"membership", "marketing_email", "profiling", "bookkeeping"} <= set(REGISTER_PURPOSES)
    assert {"membership", "bookkeeping"} <= RETENTION_CODES


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "title", "word"),
    [("sv", "Så använder vi", "Bokföring"), ("en", "How we use your data", "Bookkeeping")],
)
def test_privacy_notice_is_generated_from_the_register(client, language, title, word):
    client.cookies["django_language"] = language

    response = client.get("/integritet/")

    html = response.content.decode()
    assert response.status_code == 200
    assert title in html
    assert word in html
    # every personal field's label appears under its purpose
    from django.utils import translation

    with translation.override(language):
        for entry in processing_register.register_entries():
            assert entry.verbose_name in html, entry.key
