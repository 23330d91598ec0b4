"""Output shapes of the audit API (read-only: the API never writes events)."""

from __future__ import annotations

from rest_framework import serializers

from audit.chain import BROKEN_LINK, GAP, HASH_MISMATCH, OUT_OF_ORDER
from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "sequence",
            "occurred_at",
            "actor",
            "actor_label",
            "actor_type",
            "action",
            "target_type",
            "target_id",
            "target_name",
            "team",
            "team_slug",
            "before",
            "after",
            "request_id",
            "task_id",
            "hsm_request_id",
            "client_ip",
            "user_agent",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class ChainBreakSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    reason = serializers.ChoiceField([HASH_MISMATCH, BROKEN_LINK, GAP, OUT_OF_ORDER])
    detail = serializers.CharField()


class ChainHeadSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    hash = serializers.CharField()


class ChainReportSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    events_checked = serializers.IntegerField()
    first_broken = ChainBreakSerializer(allow_null=True)
    head = ChainHeadSerializer(allow_null=True)
