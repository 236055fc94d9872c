"""The processing register (GDPR Art. 30): every model field, classified.

Each local app keeps its entries in ``<app>/personal_data.py``::

    PERSONAL_DATA = {"Model.field": (purpose code, retention code)}
    NOT_PERSONAL = {"Model.id", ...}

This module defines the purpose and retention codes, reads every app's file, and finds the
fields that are in neither (a test fails on any). The public page "How we use your data" is
generated from it. Codes and rules: docs/privacy.md.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from types import ModuleType

from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from consent.models import LawfulBasis, Retention

# Purposes of the register. The consent-bearing ones are also rows of ``consent.Purpose``
# with the same code (created by migration 0003; the data protection officer edits them).
REGISTER_PURPOSES: dict[str, tuple[Promise, str]] = {
    "membership": (_("Running your membership"), LawfulBasis.CONTRACT),
    "marketing_email": (_("Offers and news by email"), LawfulBasis.CONSENT),
    "marketing_sms": (_("Offers and news by SMS"), LawfulBasis.CONSENT),
    "profiling": (_("Personal offers based on your purchases and interests"), LawfulBasis.CONSENT),
    "partner_sharing": (_("Sharing with partners you chose"), LawfulBasis.CONSENT),
    "analytics": (_("Statistics that improve the club"), LawfulBasis.CONSENT),
    "bookkeeping": (_("Bookkeeping of purchases and points"), LawfulBasis.LEGAL_OBLIGATION),
    "consent_proof": (_("Proving what you agreed to"), LawfulBasis.LEGAL_OBLIGATION),
    "security": (
        _("Security and the log of who looked at member data"),
        LawfulBasis.LEGITIMATE_INTEREST,
    ),
}
RETENTION_CODES = frozenset(Retention.values)

Classification = tuple[str, str]


@dataclass(frozen=True)
class RegisteredField:
    app_label: str
    model: type[models.Model]
    field_name: str
    purpose: str
    retention: str

    @property
    def key(self) -> str:
        return f"{self.model.__name__}.{self.field_name}"

    @property
    def verbose_name(self) -> str:
        """The field in plain words in the current language (:func:`field_label`)."""
        return field_label(self.model, self.field_name)

    @property
    def kind(self) -> str:
        """The model's plural name in plain words, capitalised ("Köp", "Utskick")."""
        return model_label_plural(self.model).capitalize()


@functools.lru_cache(maxsize=1)
def _register_labels() -> dict[str, Promise | str]:
    """Every app's ``LABELS`` (optional in ``<app>/personal_data.py``): plain words for a
    field ("Model.field") or a model's plural ("Model") whose own verbose name is a code,
    English only, or a unit a member does not read (öre)."""
    labels: dict[str, Promise | str] = {}
    for label in local_app_labels():
        module = register_module(label)
        if module is not None:
            labels.update(getattr(module, "LABELS", {}))
    return labels


def field_label(model: type[models.Model], field_name: str) -> str:
    """A field as the privacy notice and Mina data name it, in the current language: the
    register's label, else the field's own verbose name; a relation named only by its field
    name (``campaign``) takes the related model's verbose name ("kampanj")."""
    label = _register_labels().get(f"{model.__name__}.{field_name}")
    if label is not None:
        return str(label)
    field = model._meta.get_field(field_name)
    name = getattr(field, "verbose_name", None)
    related = field.related_model if field.is_relation else None
    if (
        related is not None
        and not isinstance(related, str)
        and str(name) == field.name.replace("_", " ")
    ):
        return str(related._meta.verbose_name)
    return str(name if name is not None else field_name)


def model_label_plural(model: type[models.Model]) -> str:
    """A model's plural as members read it: the register's label, else its verbose name."""
    label = _register_labels().get(model.__name__)
    return str(label if label is not None else model._meta.verbose_name_plural)


def local_app_labels() -> list[str]:
    """The project's own apps (members, consent, rewards, campaigns), not third-party ones."""
    return list(settings.LOCAL_APPS)


def classified_fields(model: type[models.Model]) -> list[str]:
    """Every field of ``model`` the register must classify: columns and many-to-many."""
    names = []
    for field in model._meta.get_fields():
        if field.auto_created and not field.concrete:
            continue  # reverse relations belong to the model that declares them
        if field.concrete or field.many_to_many:
            names.append(field.name)
    return names


def register_models(app_label: str) -> list[type[models.Model]]:
    config = apps.get_app_config(app_label)
    return [
        m
        for m in config.get_models()
        if not m._meta.proxy and not m._meta.auto_created and not m._meta.abstract
    ]


def register_module(app_label: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{apps.get_app_config(app_label).name}.personal_data")
    except ModuleNotFoundError:
        return None


@dataclass
class RegisterProblems:
    missing_module: list[str]
    unclassified: list[str]
    both: list[str]
    unknown_entries: list[str]
    bad_codes: list[str]

    def __bool__(self) -> bool:
        return bool(
            self.missing_module
            or self.unclassified
            or self.both
            or self.unknown_entries
            or self.bad_codes
        )


def register_check() -> RegisterProblems:
    """Everything wrong with the register; empty when every field is classified once."""
    problems = RegisterProblems([], [], [], [], [])
    for label in local_app_labels():
        models_ = register_models(label)
        module = register_module(label)
        if module is None:
            if models_:
                problems.missing_module.append(label)
            continue
        personal: dict[str, Classification] = getattr(module, "PERSONAL_DATA", {})
        not_personal: set[str] = set(getattr(module, "NOT_PERSONAL", set()))
        existing = set()
        for model in models_:
            for name in classified_fields(model):
                key = f"{model.__name__}.{name}"
                existing.add(key)
                if key in personal and key in not_personal:
                    problems.both.append(f"{label}: {key}")
                elif key not in personal and key not in not_personal:
                    problems.unclassified.append(f"{label}: {key}")
        for key in sorted((set(personal) | not_personal) - existing):
            problems.unknown_entries.append(f"{label}: {key}")
        for key, (purpose, retention) in personal.items():
            if purpose not in REGISTER_PURPOSES or retention not in RETENTION_CODES:
                problems.bad_codes.append(f"{label}: {key} -> ({purpose}, {retention})")
    return problems


def register_entries() -> list[RegisteredField]:
    """Every personal-data field of every local app, in app and model order."""
    entries = []
    for label in local_app_labels():
        module = register_module(label)
        if module is None:
            continue
        personal: dict[str, Classification] = getattr(module, "PERSONAL_DATA", {})
        by_name = {m.__name__: m for m in register_models(label)}
        for key, (purpose, retention) in personal.items():
            model_name, field_name = key.split(".", 1)
            model = by_name.get(model_name)
            if model is None:
                continue
            entries.append(RegisteredField(label, model, field_name, purpose, retention))
    return entries
