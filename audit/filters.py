"""Query filters of the audit trail's list and export endpoints."""

from __future__ import annotations

import django_filters

from audit.models import AuditEvent


class AuditEventFilter(django_filters.FilterSet):
    """`actor` (username or system label), `action` (exact), `action_prefix` (e.g. `request.`),
    `team` (slug), `target_type`/`target_id`/`target_name` (exact), `since` (inclusive) and
    `until` (exclusive) as ISO-8601 date-times."""

    actor = django_filters.CharFilter(field_name="actor_label", help_text="Username or label.")
    action = django_filters.CharFilter(field_name="action", help_text="Exact event name.")
    action_prefix = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", help_text="Event name prefix: request."
    )
    team = django_filters.CharFilter(field_name="team_slug", help_text="Team slug.")
    target_type = django_filters.CharFilter(help_text="app_label.model_name")
    target_id = django_filters.CharFilter()
    target_name = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="ISO-8601, inclusive."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", help_text="ISO-8601, exclusive."
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
