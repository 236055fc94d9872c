"""Table and column names for hand-written SQL, taken from the models' metadata.

The few statements written below the ORM (the till's purchase, the earning bonus providers)
name tables as ``[Model]`` and columns as ``[Model.field]`` (``[Model.pk]`` for the primary
key); ``sql_names`` replaces them with the quoted names Django uses, so no table or column
name is typed by hand (as ``members.rows`` does for its statements).
"""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import Field, Model

_NAME = re.compile(r"\[(\w+)(?:\.(\w+))?\]")


def sql_names(template: str, *models: type[Model]) -> str:
    """``template`` with ``[Model]`` and ``[Model.field]`` replaced for ``models`` (named by
    class). PostgreSQL quotes names the same way on every connection."""
    by_name = {model.__name__: model for model in models}
    quote = connection.ops.quote_name

    def name(match: re.Match[str]) -> str:
        model = by_name[match.group(1)]
        if match.group(2) is None:
            return quote(model._meta.db_table)
        meta = model._meta
        field = meta.pk if match.group(2) == "pk" else meta.get_field(match.group(2))
        assert isinstance(field, Field)
        return quote(field.column)

    return _NAME.sub(name, template)
