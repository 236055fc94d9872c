"""``{{ amount_ore|kronor }}``: an amount stored in öre as staff read it, "12,50 kr"."""

from __future__ import annotations

from django import template

from members.kronor import kronor_display

register = template.Library()


@register.filter
def kronor(ore: int | None) -> str:
    return kronor_display(ore)
