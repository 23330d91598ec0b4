"""API of the full HSM backups: `GET /api/v1/custody/backups/` (admins, custodians, auditors;
403 for others). A backup is taken through the `hsm.full_backup` request."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers

from custody.models import FullBackup
from custody.permissions import can_read_backups
from custody.selectors import recent_backups


class MayReadBackups(permissions.BasePermission):
    """`can_read_backups`; its refusal reason is the 403's detail."""

    def has_permission(self, request, view) -> bool:
        decision = can_read_backups(request.user)
        if not decision:
            self.message = decision.reason
        return bool(decision)


class FullBackupSerializer(serializers.ModelSerializer):
    request = serializers.UUIDField(source="request_id", allow_null=True)

    class Meta:
        model = FullBackup
        fields = ["finished_at", "container_url", "folder_url", "request"]


@extend_schema(tags=["custody"], summary="Full HSM backups (admins, custodians, auditors)")
class FullBackupList(generics.ListAPIView):
    """The full HSM backups Keywarden ran, newest first, each with the request that ran it."""

    serializer_class = FullBackupSerializer
    permission_classes = [permissions.IsAuthenticated, MayReadBackups]

    def get_queryset(self):
        return recent_backups()
