from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.selectors import principal_names
from keys.models import (
    ISO_DURATION_MAX_LENGTH,
    VERSION_FIELDS,
    KeyVersion,
    ManagedKey,
    RoleAssignmentMirror,
    RotationStandard,
)


class KeyVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = KeyVersion
        fields = ["version", *VERSION_FIELDS]


class RoleAssignmentMirrorSerializer(serializers.ModelSerializer):
    principal_name = serializers.SerializerMethodField(
        help_text="The display name the team's principal directory gives the principal."
    )

    class Meta:
        model = RoleAssignmentMirror
        fields = [
            "name",
            "scope",
            "role_name",
            "role_definition_id",
            "principal_id",
            "principal_name",
            "principal_type",
            "is_managed",
            "has_drift",
            "drift_reasons",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_principal_name(self, assignment) -> str | None:
        team_id = assignment.team_id or (assignment.key.team_id if assignment.key_id else None)
        names = principal_names([assignment.principal_id], team_id=team_id)
        return names.get(assignment.principal_id.lower())


class ManagedKeySerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    managed = serializers.BooleanField(source="is_managed", read_only=True)

    class Meta:
        model = ManagedKey
        fields = [
            "name",
            "team",
            "kty",
            "key_size",
            "curve",
            "key_ops",
            "is_kek",
            "enabled",
            "exportable",
            "tags",
            "current_version",
            "version_count",
            "created_on",
            "updated_on",
            "not_before",
            "expires_on",
            "last_rotated_on",
            "rotation_class",
            "compliance_state",
            "compliance_due_on",
            "compliance_mechanism",
            "compliance_reason",
            "state",
            "deleted_on",
            "scheduled_purge_on",
            "managed",
            "has_drift",
            "drift_reasons",
            "last_synced_at",
        ]


class ManagedKeyDetailSerializer(ManagedKeySerializer):
    versions = KeyVersionSerializer(many=True, read_only=True)
    role_assignments = RoleAssignmentMirrorSerializer(many=True, read_only=True)

    class Meta(ManagedKeySerializer.Meta):
        fields = [
            *ManagedKeySerializer.Meta.fields,
            "rotation_policy",
            "versions",
            "role_assignments",
        ]


class RotationStandardSerializer(serializers.ModelSerializer):
    # None: the class's own standard, not a team's override.
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = RotationStandard
        fields = ["key_class", "team", "max_age", "warn_before", "updated_at"]


class RotationStandardInputSerializer(serializers.Serializer):
    """A class's standard, or (with `team`) that team's override of it. Shape only: the
    service checks the durations and that the class exists."""

    max_age = serializers.CharField(
        max_length=ISO_DURATION_MAX_LENGTH, help_text="ISO-8601, e.g. P90D or P2Y."
    )
    warn_before = serializers.CharField(
        max_length=ISO_DURATION_MAX_LENGTH, help_text="ISO-8601, shorter than max_age."
    )
    team = serializers.SlugField(
        required=False, allow_null=True, help_text="A team's slug: that team's override."
    )
