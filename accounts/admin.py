"""Django admin for accounts: read-only. Teams, memberships and role grants change only through
`accounts.services` (audited): `manage.py save_team`, Entra ID group claims, the demo seed."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Membership, RoleGrant, Team, User


class ReadOnlyAdminMixin:
    """Lists and detail pages only: no add, change or delete, so no unaudited access change."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Membership
    extra = 0


class RoleGrantInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RoleGrant
    extra = 0


@admin.register(User)
class KeywardenUserAdmin(ReadOnlyAdminMixin, UserAdmin):
    inlines = [MembershipInline, RoleGrantInline]
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Entra ID", {"fields": ("entra_object_id", "is_service_account")}),
    )


@admin.register(Team)
class TeamAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "key_prefix", "entra_group_id")
    inlines = [MembershipInline]
