from typing import Any

from django.http import HttpRequest


def member(request: HttpRequest) -> dict[str, Any]:
    """The logged-in member (or None) for the navigation and greetings."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_member": None}
    return {"current_member": getattr(user, "member", None)}
