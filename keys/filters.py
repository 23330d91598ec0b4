"""Query filters of the key inventory, shared by the API (`?team=payments&kty=RSA-HSM&drift=true`)
and the inventory page: each filter's label and help text serve both."""

from __future__ import annotations

import django_filters
from django.utils import timezone

from keys.models import KeyState, ManagedKey


class ManagedKeyFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(
        field_name="team__slug", label="Team", help_text="Team slug, e.g. payments."
    )
    kty = django_filters.CharFilter(
        field_name="kty",
        lookup_expr="iexact",
        label="Key type",
        help_text="RSA-HSM, EC-HSM or oct-HSM.",
    )
    enabled = django_filters.BooleanFilter(label="Enabled")
    state = django_filters.ChoiceFilter(choices=KeyState.choices, label="State")
    deleted = django_filters.BooleanFilter(
        method="filter_deleted",
        label="Deleted",
        help_text="Yes: soft-deleted or purged keys; No: live keys.",
    )
    drift = django_filters.BooleanFilter(
        field_name="has_drift", label="Drift", help_text="Changed outside Keywarden."
    )
    managed = django_filters.BooleanFilter(
        field_name="last_applied",
        lookup_expr="isnull",
        exclude=True,
        label="Managed by Keywarden",
        help_text="Yes: keys Keywarden manages; No: keys made outside Keywarden.",
    )
    rotation_due = django_filters.BooleanFilter(
        method="filter_rotation_due",
        label="Rotation due",
        help_text="Yes: the current version is due for rotation.",
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
