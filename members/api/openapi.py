"""What drf-spectacular cannot see on its own, so that the OpenAPI schema states every rule
the server checks (schemathesis holds the two to each other, tests/rewards/test_api_schema.py).

- A list of nested objects (``Serializer(many=True, allow_empty=False, max_length=500)``)
  gets ``minItems``/``maxItems``.
- A serializer that takes exactly one of several fields (``exactly_one_of``) gets a
  ``oneOf`` of one ``required`` branch per field: a body naming none, or two, is invalid.

Imported from ``MembersConfig.ready`` (defining an extension class registers it), so the
extensions are registered before any schema is built.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema as _AutoSchema
from drf_spectacular.utils import OpenApiResponse


class BoundedListSerializerExtension(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.serializers.ListSerializer"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if schema is None or schema.get("type") != "array":
            return schema
        field = self.target
        if not field.allow_empty:
            schema["minItems"] = max(1, field.min_length or 0)
        elif field.min_length is not None:
            schema["minItems"] = field.min_length
        if field.max_length is not None:
            schema["maxItems"] = field.max_length
        return schema


class ExactlyOneOfExtension(OpenApiSerializerExtension):
    """For serializers with ``exactly_one_of = ("a", "b", ...)`` (``IdentifyInputSerializer``
    and its subclasses)."""

    target_class = "members.api.serializers.IdentifyInputSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        names = getattr(self.target, "exactly_one_of", ())
        if names:
            schema["oneOf"] = [{"required": [name]} for name in names]
        return schema


class AutoSchema(_AutoSchema):
    """drf-spectacular's, with each operation's real way in: an integration key for views
    behind ``HasScope``, the member's session (and CSRF token) for views behind
    ``IsMember`` (by default every operation would list both); and the JSON errors every
    such operation can give: 401 without credentials, 403 without the right ones."""

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        from members.api.serializers import ErrorSerializer

        responses = super()._get_response_bodies(direction)
        if self._scheme() is not None:
            for code, text in (
                ("401", "No or invalid credentials (`not_authenticated`, ...)"),
                ("403", "Not allowed (`forbidden`, ...)"),
            ):
                if code not in responses:
                    responses[code] = self._get_response_for_code(
                        OpenApiResponse(ErrorSerializer, description=text), code
                    )
        return responses

    def _get_request_for_media_type(self, serializer: Any, direction: Any = "request") -> Any:
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # A body that must name exactly one of its (optional) fields cannot be left out.
        return schema, required or bool(getattr(serializer, "exactly_one_of", ()))

    def _scheme(self) -> str | None:
        from members.api.permissions import HasScope, IsMember

        permissions = set(getattr(self.view, "permission_classes", ()))
        if HasScope in permissions:
            return "ApiKey"
        return "cookieAuth" if IsMember in permissions else None

    def get_auth(self) -> list[dict[str, list[str]]]:
        auths = super().get_auth()  # also registers the security schemes
        scheme = self._scheme()
        return [auth for auth in auths if scheme in auth] or auths
