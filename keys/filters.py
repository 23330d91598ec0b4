"""Query filters of the key inventory API (`?team=payments&kty=RSA-HSM&drift=true`)."""

from __future__ import annotations

import django_filters
from django.utils import timezone

from keys.models import KeyState, ManagedKey


class ManagedKeyFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    kty = django_filters.CharFilter(field_name="kty", lookup_expr="iexact")
    enabled = django_filters.BooleanFilter()
    state = django_filters.ChoiceFilter(choices=KeyState.choices)
    deleted = django_filters.BooleanFilter(
        method="filter_deleted", help_text="true: soft-deleted or purged keys; false: live keys."
    )
    drift = django_filters.BooleanFilter(field_name="has_drift")
    managed = django_filters.BooleanFilter(
        field_name="last_applied",
        lookup_expr="isnull",
        exclude=True,
        help_text="true: keys Keywarden manages; false: keys made outside Keywarden.",
    )
    rotation_due = django_filters.BooleanFilter(
        method="filter_rotation_due", help_text="true: the current version is due for rotation."
    )

    class Meta:
        model = ManagedKey
        fields = ["team", "kty", "enabled", "state", "deleted", "drift", "managed", "rotation_due"]

    def filter_deleted(self, queryset, name, value):
        live = queryset.filter(state=KeyState.ACTIVE)
        return queryset.exclude(state=KeyState.ACTIVE) if value else live

    def filter_rotation_due(self, queryset, name, value):
        due = {"state": KeyState.ACTIVE, "rotation_due_on__lte": timezone.now()}
        return queryset.filter(**due) if value else queryset.exclude(**due)
