"""Factories build state through services, as a real member or till would."""

from tests.factories.members import api_key_with_secret, member_with_user, staff_user, store

__all__ = ["api_key_with_secret", "member_with_user", "staff_user", "store"]
