"""Shapes of the posture API (no writes here: services do them)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from posture.models import MAX_REASON_LENGTH, Finding, PostureRun
from posture.rules import RULES_BY_ID


class FixSerializer(serializers.Serializer):
    label = serializers.CharField()
    url = serializers.CharField()


class FindingSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    rule_title = serializers.SerializerMethodField()
    accepted_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )  # null until someone accepts the finding
    fixes = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "id",
            "rule",
            "rule_title",
            "severity",
            "state",
            "subject",
            "subject_kind",
            "summary",
            "evidence",
            "key_name",
            "principal_id",
            "first_seen",
            "last_seen",
            "resolved_at",
            "times_reopened",
            "accepted_until",
            "accepted_reason",
            "accepted_by",
            "accepted_at",
            "fixes",
        ]
        read_only_fields = fields

    def get_state(self, finding: Finding) -> str:
        return finding.state_at(timezone.now())

    def get_rule_title(self, finding: Finding) -> str:
        rule = RULES_BY_ID.get(finding.rule)
        return rule.title if rule else finding.rule

    @extend_schema_field(FixSerializer(many=True))
    def get_fixes(self, finding: Finding) -> list[dict]:
        fixes = self.context.get("fixes", {}).get(finding.pk, [])
        return [{"label": fix.label, "url": fix.url} for fix in fixes]


class AcceptRiskInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH, trim_whitespace=False)
    expires_at = serializers.DateTimeField()


class PostureRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PostureRun
        fields = [
            "id",
            "status",
            "trigger",
            "started_at",
            "finished_at",
            "rules_done",
            "rules_total",
            "findings_open",
            "findings_new",
            "findings_resolved",
            "error",
        ]
        read_only_fields = fields
