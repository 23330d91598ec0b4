"""Query filters every list shares: text parameters are refused (400 on the parameter) when
they carry a control character, instead of matching as if trimmed (`pay-orders\\n`) or failing
in the database (a NUL); ISO-8601 date-times are read as one UTC instant, so any offset the
standard allows (up to ±23:59) reaches the database as UTC, which stores only ±15:59, and an
instant outside the calendar is a field error, never a server error."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters import FilterSet
from django_filters.fields import IsoDateTimeField
from rest_framework import filters, serializers

from core.identifiers import CONTROL_CHARACTER_MESSAGE, has_control_characters

OUT_OF_RANGE = "Enter a date-time between years 1 and 9999 in UTC."


class StrictFilterForm(forms.Form):
    """Checks the text fields as sent, before Django trims their whitespace."""

    def clean(self):
        for name, field in self.fields.items():
            raw = self.data.get(self.add_prefix(name))
            text = raw if isinstance(field, forms.CharField) and isinstance(raw, str) else ""
            if has_control_characters(text):
                self.add_error(name, CONTROL_CHARACTER_MESSAGE)
        return super().clean()


class StrictFilterSet(FilterSet):
    """A FilterSet whose text filters refuse control characters."""

    def get_form_class(self):
        fields = {name: filter_.field for name, filter_ in self.filters.items()}
        bases = (StrictFilterForm, self._meta.form)
        return type(f"{type(self).__name__}Form", bases, fields)


class StrictSearchFilter(filters.SearchFilter):
    """`?search=`, refused when it carries a control character."""

    def get_search_terms(self, request):
        text = request.query_params.get(self.search_param, "")
        if has_control_characters(text):
            raise serializers.ValidationError({self.search_param: [CONTROL_CHARACTER_MESSAGE]})
        return super().get_search_terms(request)


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
