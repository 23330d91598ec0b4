from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Membership, RoleGrant, Team, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


class RoleGrantInline(admin.TabularInline):
    model = RoleGrant
    extra = 0


@admin.register(User)
class KeywardenUserAdmin(UserAdmin):
    inlines = [MembershipInline, RoleGrantInline]
    fieldsets = (*UserAdmin.fieldsets, ("Entra ID", {"fields": ("entra_object_id",)}))


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "key_prefix", "entra_group_id")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]
