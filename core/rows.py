"""Model instances from the columns of a raw SELECT, converted as the ORM converts them."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from django.db.models import Model


def select_columns(model: type[Model], alias: str) -> str:
    """`alias."col", ...` for every concrete field of `model`, in `from_row`'s order."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def from_row(model: type[Model], values: Iterator, connection) -> Model:
    """The next `select_columns(model)` values of `values` as an instance of `model` (JSON
    parsed, as the ORM does: Django loads jsonb as text)."""
    fields = model._meta.concrete_fields
    converted = [
        field.from_db_value(value, None, connection)
        if value is not None and hasattr(field, "from_db_value")
        else value
        for field, value in zip(fields, islice(values, len(fields)), strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)
