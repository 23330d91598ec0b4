"""Shapes of the audit API: events (read-only: the API never writes them), verification runs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.chain import BROKEN_LINK, GAP, HASH_MISMATCH, OUT_OF_ORDER, RECORD_FIELDS
from audit.models import AuditEvent, VerificationRun

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


class UnsealedBacklogSerializer(serializers.Serializer):
    """Committed events the sealer had not chained yet when the run started (not covered)."""

    count = serializers.IntegerField()
    oldest_age_seconds = serializers.FloatField(allow_null=True)


class VerificationRunSerializer(serializers.ModelSerializer):
    """One verification run: its range, progress and result (`first_broken` null unless
    broken)."""

    full = serializers.BooleanField(source="is_full")
    first_broken = serializers.SerializerMethodField()
    unsealed = serializers.SerializerMethodField()

    class Meta:
        model = VerificationRun
        fields = [
            "id",
            "status",
            "trigger",
            "started_by",
            "full",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "anchor",
            "from_sequence",
            "to_sequence",
            "events_checked",
            "head_hash",
            "first_broken",
            "unsealed",
            "error",
        ]
        read_only_fields = fields

    @extend_schema_field(UnsealedBacklogSerializer())
    def get_unsealed(self, run: VerificationRun) -> dict:
        age = run.unsealed_age_seconds
        return {
            "count": run.unsealed_count,
            "oldest_age_seconds": None if age is None else round(age, 3),
        }

    @extend_schema_field(ChainBreakSerializer(allow_null=True))
    def get_first_broken(self, run: VerificationRun) -> dict | None:
        if run.broken_sequence is None:
            return None
        return {
            "sequence": run.broken_sequence,
            "reason": run.broken_reason,
            "detail": run.broken_detail,
        }


class VerificationInputSerializer(serializers.Serializer):
    full = serializers.BooleanField(
        default=False, help_text="re-check from event 1 instead of the last verified point"
    )
