from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: events are written by `record_event` only, and the database refuses edits."""

    list_display = ("sequence", "occurred_at", "actor_label", "action", "target_type", "team_slug")
    list_filter = ("actor_type", "action")
    search_fields = ("actor_label", "target_name", "target_id", "request_id")
    ordering = ("-id",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
