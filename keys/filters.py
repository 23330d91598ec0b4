"""Query filters of the key inventory, shared by the API (`?team=payments&kty=RSA-HSM&drift=true`)
and the inventory page: each filter's label and help text serve both."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from core.filters import StrictFilterSet, UtcIsoDateTimeFilter
from keys.models import (
    UNJUDGED_STATES,
    ComplianceState,
    KeyState,
    ManagedKey,
    RotationMechanism,
)


class ManagedKeyFilter(StrictFilterSet):
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
    compliance = django_filters.ChoiceFilter(
        field_name="compliance_state",
        choices=ComplianceState.choices,
        label="Compliance",
        help_text="Rotation compliance, e.g. overdue or due_soon.",
    )
    rotation_class = django_filters.CharFilter(
        field_name="rotation_class",
        label="Rotation class",
        help_text="The rotation standard the key is judged by, e.g. standard or active.",
    )
    mechanism = django_filters.ChoiceFilter(
        field_name="compliance_mechanism",
        choices=RotationMechanism.choices,
        label="Rotated by",
        help_text="What rotates the key next: hsm_policy, schedule or none.",
    )
    due_before = UtcIsoDateTimeFilter(
        field_name="compliance_due_on",
        lookup_expr="lte",
        label="Due before",
        help_text="Rotation due on or before this ISO-8601 date-time.",
    )
    due_after = UtcIsoDateTimeFilter(
        field_name="compliance_due_on",
        lookup_expr="gte",
        label="Due after",
        help_text="Rotation due on or after this ISO-8601 date-time.",
    )
    applicable = django_filters.BooleanFilter(
        method="filter_applicable",
        label="Judged for rotation",
        help_text="Yes: keys judged for rotation; No: deleted, disabled or not judged yet.",
    )
    expires_before = UtcIsoDateTimeFilter(
        field_name="expires_on",
        lookup_expr="lte",
        label="Expires before",
        help_text="Current version expires on or before this ISO-8601 date-time.",
    )
    expires_after = UtcIsoDateTimeFilter(
        field_name="expires_on",
        lookup_expr="gte",
        label="Expires after",
        help_text="Current version expires on or after this ISO-8601 date-time.",
    )

    class Meta:
        model = ManagedKey
        fields = [
            "team",
            "kty",
            "enabled",
            "state",
            "deleted",
            "drift",
            "managed",
            "compliance",
            "rotation_class",
            "mechanism",
            "due_before",
            "due_after",
            "applicable",
            "expires_before",
            "expires_after",
        ]

    def filter_deleted(self, queryset, name, value):
        live = queryset.filter(state=KeyState.ACTIVE)
        return queryset.exclude(state=KeyState.ACTIVE) if value else live

    def filter_applicable(self, queryset, name, value):
        unjudged = Q(compliance_state__in=UNJUDGED_STATES)
        return queryset.exclude(unjudged) if value else queryset.filter(unjudged)
