"""The rotation report's query parameters (shared by the page, the CSV and the API) and the
shape of its JSON (what the OpenAPI schema documents)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.models import Operation, State
from keys.models import ROTATION_CLASS_MAX_LENGTH, ComplianceState, RotationMechanism


class ReportQuerySerializer(serializers.Serializer):
    """`?team=payments&class=active&now=2026-06-01T12:00:00Z`, every one optional."""

    team = serializers.SlugField(
        required=False, max_length=50, help_text="Team slug; a team you cannot see is a 404."
    )
    now = serializers.DateTimeField(
        required=False, help_text="ISO-8601 moment the windows are counted from (default: now)."
    )

    def get_fields(self):
        fields = super().get_fields()
        # `class` is a Python keyword, so the field is added under its query-parameter name.
        fields["class"] = serializers.SlugField(
            required=False,
            max_length=ROTATION_CLASS_MAX_LENGTH,
            help_text="Rotation class, e.g. standard or active.",
        )
        return fields


@extend_schema_field(OpenApiTypes.NUMBER)
class NumberField(serializers.Field):
    """A count (integer) or a percentage (float, one decimal), as computed; may be null."""

    def to_representation(self, value):
        return value


class ScopeSerializer(serializers.Serializer):
    team = serializers.CharField(allow_null=True)
    now = serializers.DateTimeField()

    def get_fields(self):
        fields = super().get_fields()
        fields["class"] = serializers.CharField(allow_null=True)
        return fields


class TileSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    value = NumberField(
        allow_null=True, help_text="A count, or a percentage for compliant_percent (or null)."
    )
    link = serializers.CharField(help_text="The inventory page listing exactly these keys.")


class StateCountsSerializer(serializers.Serializer):
    def get_fields(self):
        return {state: serializers.IntegerField() for state in ComplianceState.values}


class TeamRowSerializer(serializers.Serializer):
    team = serializers.CharField(help_text="Slug; empty for keys no team owns.")
    team_name = serializers.CharField()
    keys = serializers.IntegerField()
    compliant_percent = serializers.FloatField(allow_null=True)
    overdue = serializers.IntegerField()
    due_soon = serializers.IntegerField()
    no_mechanism = serializers.IntegerField()
    oldest_version_age_days = serializers.IntegerField(allow_null=True)
    states = StateCountsSerializer()


class AgeBinSerializer(serializers.Serializer):
    label = serializers.CharField()
    from_days = serializers.IntegerField()
    to_days = serializers.IntegerField(allow_null=True)
    keys = serializers.IntegerField()


class ClassLimitSerializer(serializers.Serializer):
    key_class = serializers.CharField()
    max_age = serializers.CharField()
    days = serializers.IntegerField()


class HistogramSerializer(serializers.Serializer):
    bins = AgeBinSerializer(many=True)
    unknown_age = serializers.IntegerField()
    class_limits = ClassLimitSerializer(many=True)


class TrendDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    compliant_percent = serializers.FloatField(allow_null=True)
    compliant = serializers.IntegerField()
    overdue = serializers.IntegerField()
    keys = serializers.IntegerField()


class UpcomingSerializer(serializers.Serializer):
    on = serializers.DateTimeField()
    kind = serializers.ChoiceField(["rotation", "expiry"])
    by = serializers.ChoiceField([RotationMechanism.HSM_POLICY, RotationMechanism.SCHEDULE, ""])
    key = serializers.CharField()
    team = serializers.CharField()


class ScheduleRunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    operation = serializers.ChoiceField(Operation.choices)
    key = serializers.CharField()
    team = serializers.CharField()
    state = serializers.ChoiceField(State.choices)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField()


class ServiceLevelSerializer(serializers.Serializer):
    operation = serializers.ChoiceField(Operation.choices)
    requests = serializers.IntegerField()
    first_decision_median_seconds = serializers.FloatField(allow_null=True)
    first_decision_p90_seconds = serializers.FloatField(allow_null=True)
    quorum_median_seconds = serializers.FloatField(allow_null=True)
    quorum_p90_seconds = serializers.FloatField(allow_null=True)
    expired = serializers.IntegerField()
    rejected = serializers.IntegerField()
    expired_percent = serializers.FloatField(allow_null=True)
    rejected_percent = serializers.FloatField(allow_null=True)
    open_overdue = serializers.IntegerField(
        help_text="Pending requests older than their policy's max_wait."
    )


class RotationReportSerializer(serializers.Serializer):
    scope = ScopeSerializer()
    tiles = TileSerializer(many=True)
    teams = TeamRowSerializer(many=True)
    states = StateCountsSerializer()
    age_histogram = HistogramSerializer()
    trend = TrendDaySerializer(many=True)
    upcoming = UpcomingSerializer(many=True)
    schedule_runs = ScheduleRunSerializer(many=True)
    service_levels = ServiceLevelSerializer(many=True)
