"""Shapes of the requests API. Shape only: every rule lives in services and operations."""

from django.utils import timezone
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from approvals.models import (
    MAX_APPROVALS,
    MAX_MAX_WAIT,
    MAX_TEXT_LENGTH,
    MIN_APPROVALS,
    MIN_MAX_WAIT,
    Approval,
    ApprovalPolicy,
    ChangeRequest,
    Execution,
    Operation,
)
from approvals.operations import (
    SPECS,
    OperationSpec,
    changed_since_submission,
    changes_of,
    spec_for,
)
from approvals.operations.fields import StrictBooleanField
from approvals.permissions import REQUEST_ACTIONS, allowed_actions
from approvals.selectors import quorum_warning
from approvals.services.policies import (
    APPROVALS_RANGE,
    INDEPENDENT_APPROVERS_HELP,
    MAX_WAIT_RANGE,
)


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = Approval
        fields = ["approver", "decision", "comment", "payload_hash", "created_at"]


class ExecutionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Execution
        fields = [
            "attempt",
            "outcome",
            "started_at",
            "finished_at",
            "hsm_request_ids",
            "result",
            "error",
        ]


class ChangeRequestSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requester = serializers.CharField(source="requester.username")
    approvals_count = serializers.IntegerField(read_only=True)
    high_risk = serializers.SerializerMethodField()
    preview = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField(
        help_text="What you may do with this request right now (the services' own rules): "
        "approve, reject, cancel, retry, download_backup (GET …/backup/)."
    )

    class Meta:
        model = ChangeRequest
        fields = [
            "id",
            "operation",
            "team",
            "requester",
            "justification",
            "key_name",
            "params",
            "payload_hash",
            "state",
            "approvals_required",
            "approvals_count",
            "high_risk",
            "preview",
            "expires_at",
            "created_at",
            "updated_at",
            "decided_at",
            "finished_at",
            "result",
            "error",
            "allowed_actions",
        ]

    @extend_schema_field(serializers.BooleanField())
    def get_high_risk(self, change) -> bool:
        return spec_for(change.operation).high_risk

    @extend_schema_field(serializers.CharField())
    def get_preview(self, change) -> str:
        return spec_for(change.operation).preview(change.params, request_id=change.pk)

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(REQUEST_ACTIONS)))
    def get_allowed_actions(self, change) -> list[str]:
        request = self.context.get("request")
        if request is None:
            return []
        # One `now` per response, so every row of a list is judged at the same instant.
        now = self.context.setdefault("now", timezone.now())
        return allowed_actions(request.user, change, now=now)


class ChangeSerializer(serializers.Serializer):
    """One field a request changes: its value at submission and the value asked for."""

    field = serializers.CharField()
    label = serializers.CharField()
    current = serializers.JSONField(allow_null=True)
    requested = serializers.JSONField(allow_null=True)
    changed = serializers.BooleanField()


class ChangeRequestDetailSerializer(ChangeRequestSerializer):
    approvals = ApprovalSerializer(many=True, read_only=True)
    executions = ExecutionSerializer(many=True, read_only=True)
    changes = serializers.SerializerMethodField(
        help_text="Current → requested per field, the current values as the inventory had them "
        "when the request was submitted (empty for operations that change no existing key)."
    )
    changed_since = serializers.SerializerMethodField(
        help_text="Fields of `changes` whose value in the inventory differs now from the one "
        "captured at submission (only while the request has yet to run)."
    )

    quorum_warning = serializers.SerializerMethodField(
        help_text="Why this pending request can never reach quorum; null while it can."
    )

    class Meta(ChangeRequestSerializer.Meta):
        fields = [
            *ChangeRequestSerializer.Meta.fields,
            "changes",
            "changed_since",
            "approvals",
            "executions",
            "quorum_warning",
        ]

    @extend_schema_field(ChangeSerializer(many=True))
    def get_changes(self, change) -> list[dict]:
        return [row.as_dict() for row in changes_of(change)]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_changed_since(self, change) -> list[str]:
        return changed_since_submission(change)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_quorum_warning(self, change) -> str | None:
        return quorum_warning(change) or None


class SubmitInputSerializer(serializers.Serializer):
    """The envelope; `params` are checked by the operation's own serializer in the service,
    which reports them as `params.<field>` together with the database rules."""

    operation = serializers.ChoiceField(choices=Operation.choices)
    team = serializers.SlugField(max_length=50)
    # Blank passes here: the service says it is required, with every other problem at once.
    justification = serializers.CharField(max_length=MAX_TEXT_LENGTH, allow_blank=True)
    params = serializers.DictField(allow_empty=True)


def _submit_schema_for(spec: OperationSpec) -> type[serializers.Serializer]:
    """The documented body of one operation's submission (the envelope, its params typed)."""
    name = type(spec).__name__
    label = Operation(spec.operation).label
    params = spec.params(help_text=f"Parameters of {spec.operation} ({label}).")
    return type(f"{name}SubmitSerializer", (SubmitInputSerializer,), {"params": params})


SUBMIT_REQUEST_SCHEMA = PolymorphicProxySerializer(
    component_name="SubmitRequest",
    serializers={str(op): _submit_schema_for(spec) for op, spec in SPECS.items()},
    resource_type_field_name="operation",
)


class DecisionInputSerializer(serializers.Serializer):
    comment = serializers.CharField(
        max_length=MAX_TEXT_LENGTH, allow_blank=True, required=False, default=""
    )


class ApprovalPolicySerializer(serializers.ModelSerializer):
    # A policy nobody has edited is the default and was never saved.
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ApprovalPolicy
        fields = [
            "operation",
            "approvals_required",
            "approver_role",
            "max_wait",
            "require_independent_approvers",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"require_independent_approvers": {"help_text": INDEPENDENT_APPROVERS_HELP}}


class PolicyInputSerializer(serializers.Serializer):
    approvals_required = serializers.IntegerField(
        required=False,
        min_value=MIN_APPROVALS,
        max_value=MAX_APPROVALS,
        error_messages={"min_value": APPROVALS_RANGE, "max_value": APPROVALS_RANGE},
    )
    max_wait = serializers.DurationField(
        required=False,
        min_value=MIN_MAX_WAIT,
        max_value=MAX_MAX_WAIT,
        error_messages={"min_value": MAX_WAIT_RANGE, "max_value": MAX_WAIT_RANGE},
    )
    require_independent_approvers = StrictBooleanField(
        required=False, help_text=INDEPENDENT_APPROVERS_HELP
    )
