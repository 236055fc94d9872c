"""``{% static_url "members:home" %}``: ``{% url %}`` for routes without arguments, resolved
once per process (per script prefix and URL conf) instead of on every page: the navigation
in base.html reverses a dozen of them on every member page."""

from __future__ import annotations

import functools

from django import template
from django.dispatch import receiver
from django.test.signals import setting_changed
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()


@functools.lru_cache(maxsize=256)
def _reverse(name: str, prefix: str, urlconf: str | None) -> str:
    return reverse(name, urlconf=urlconf)


@register.simple_tag
def static_url(name: str) -> str:
    return _reverse(name, get_script_prefix(), get_urlconf())


@receiver(setting_changed)
def _urls_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "ROOT_URLCONF":  # tests that swap the URL conf
        _reverse.cache_clear()
