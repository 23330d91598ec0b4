"""Filter fields every list shares: ISO-8601 date-times read as one UTC instant, so any
offset the standard allows (up to ±23:59) reaches the database as UTC, which stores only
±15:59; an instant outside the calendar is a field error, never a server error."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

OUT_OF_RANGE = "Enter a date-time between years 1 and 9999 in UTC."


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValidationError(OUT_OF_RANGE, code="invalid") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
