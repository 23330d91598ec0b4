"""Query filters of the audit trail, shared by its page and the API's list and export
endpoints: each filter's label and help text serve both."""

from __future__ import annotations

import django_filters

from audit.models import AuditEvent
from core.filters import StrictFilterSet, UtcIsoDateTimeFilter


class AuditEventFilter(StrictFilterSet):
    """Exact matches except `action_prefix`; `since` is inclusive and `until` exclusive."""

    actor = django_filters.CharFilter(
        field_name="actor_label",
        label="Who",
        help_text="Username or system label (worker, scheduler).",
    )
    action = django_filters.CharFilter(
        field_name="action", label="Event", help_text="Exact event name, e.g. request.approved."
    )
    action_prefix = django_filters.CharFilter(
        field_name="action",
        lookup_expr="startswith",
        label="Event starts with",
        help_text="Event name prefix, e.g. request.",
    )
    team = django_filters.CharFilter(field_name="team_slug", label="Team", help_text="Team slug.")
    target_type = django_filters.CharFilter(
        label="Target type",
        help_text="app_label.model_name, e.g. keys.managedkey or approvals.changerequest.",
    )
    target_id = django_filters.CharFilter(label="Target id")
    target_name = django_filters.CharFilter(label="Target name", help_text="e.g. a key name.")
    since = UtcIsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="gte",
        label="Since",
        help_text="ISO-8601 date-time, inclusive, e.g. 2026-01-31T00:00:00Z.",
    )
    until = UtcIsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="lt",
        label="Until",
        help_text="ISO-8601 date-time, exclusive.",
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
