"""Writing an import's rows with PostgreSQL's ``COPY`` (docs/import.md, "Writes and speed").

The ORM's ``bulk_create`` spends most of an import's time turning every value of every row
into a parameter (about 9 of 10 seconds for 20,000 members, their logins, addresses and
events). ``COPY ... FROM STDIN`` streams the rows as they are, into the real tables: every
constraint, unique index and trigger still applies, and the statement is in the caller's
transaction, so a batch is written whole or not at all.

The primary keys are drawn from the table's sequence first (``ids_reserve``), so the caller
knows each row's key without ``RETURNING`` (which ``COPY`` has not) and can write the rows
that point at it in the same batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models
from psycopg.types.json import Jsonb


def ids_reserve(model: type[models.Model], count: int) -> list[int]:
    """``count`` new primary keys from ``model``'s sequence (in the caller's transaction, no
    other writer can draw them)."""
    if count <= 0:
        return []
    table = model._meta.db_table
    pk = model._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        # The sequence looked up once (not per row), the keys as one array: a tenth of the
        # time of one row per key with the lookup in each.
        cursor.execute(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) "
            "SELECT array_agg(nextval(s.seq)) FROM s, generate_series(1, %s)",
            [table, pk.column, count],
        )
        row = cursor.fetchone()
        assert row is not None
        return list(row[0])


def copy_insert(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert ``rows`` (values in the order of ``columns``, the fields' attribute names, the
    primary key among them) with ``COPY``. Every other concrete field gets its default,
    worked out once for the whole call (so a callable default such as ``timezone.now`` is
    the same for every row). Values go as they are (no field's ``get_db_prep_value``):
    strings, numbers, booleans, dates, aware datetimes, ``None``; a JSON field's dict or
    list is sent as JSON. Call inside a transaction. Returns the number of rows."""
    fields = {field.attname: field for field in model._meta.concrete_fields}
    missing = [name for name in columns if name not in fields]
    if missing:
        raise ValueError(f"{model.__name__} has no column {missing}")
    rest = [
        field
        for name, field in fields.items()
        if name not in columns and not field.primary_key and not _db_default(field)
    ]
    defaults = tuple(field.get_default() for field in rest)
    names = [fields[name].column for name in columns] + [field.column for field in rest]
    json_at = [
        index
        for index, field in enumerate([fields[name] for name in columns] + rest)
        if isinstance(field, models.JSONField)
    ]
    quoted = ", ".join(connection.ops.quote_name(name) for name in names)
    table = connection.ops.quote_name(model._meta.db_table)
    count = 0
    # Django's wrapper turns psycopg's errors into Django's (a unique violation into an
    # IntegrityError that the import's batch catches), as for any other statement.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        copy_cursor = cursor.cursor  # psycopg's own cursor under Django's wrapper
        with copy_cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                values = [*row, *defaults]
                for index in json_at:  # only the JSON columns looked at (a few, or none)
                    if values[index] is not None:
                        values[index] = Jsonb(values[index])
                copy.write_row(values)
                count += 1
    return count


def _db_default(field: models.Field[Any, Any]) -> bool:
    """A field whose default the database itself fills in (``db_default``)."""
    return field.db_default is not models.NOT_PROVIDED
