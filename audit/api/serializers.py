"""Output shapes of the audit API (read-only: the API never writes events)."""

from __future__ import annotations

from rest_framework import serializers

from audit.chain import BROKEN_LINK, GAP, HASH_MISMATCH, OUT_OF_ORDER, RECORD_FIELDS
from audit.models import AuditEvent

RELATIONS = {"actor_id": "actor", "team_id": "team"}


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        # The whole hashed record, relations by name (`actor`, `team`: their ids).
        fields = [RELATIONS.get(name, name) for name in RECORD_FIELDS]
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
