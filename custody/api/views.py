"""API of the custody register: `GET /api/v1/custody/` and the holder's
`POST /api/v1/custody/holders/<id>/confirm/`."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import AuditContext
from core.decisions import ensure_allowed
from core.errors import NotFound
from custody.challenges import CHALLENGE_SECONDS, issue_challenge
from custody.models import Holder, Rehearsal
from custody.permissions import can_confirm_possession, can_read_register
from custody.selectors import register_context
from custody.services import confirm_possession


class HolderSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None, allow_null=True)
    last_confirmed_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        model = Holder
        fields = [
            "id",
            "person",
            "user",
            "token_type",
            "site",
            "thumbprint",
            "certificate_expires_at",
            "added_at",
            "last_confirmed_at",
        ]


class RehearsalSerializer(serializers.ModelSerializer):
    seconds_taken = serializers.FloatField()

    class Meta:
        model = Rehearsal
        fields = [
            "scratch_hsm_url",
            "file_sha256",
            "shares_used",
            "started_at",
            "finished_at",
            "seconds_taken",
            "outcome",
            "detail",
        ]


class WarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()


class RegisterSerializer(serializers.Serializer):
    hsm_url = serializers.CharField(source="register.hsm_url", default=None, allow_null=True)
    quorum = serializers.IntegerField(source="register.quorum", default=None, allow_null=True)
    activated_at = serializers.DateTimeField(
        source="register.activated_at", default=None, allow_null=True
    )
    witnesses = serializers.ListField(source="register.witnesses", default=list)
    file_sha256 = serializers.CharField(source="register.file_sha256", default="")
    holders = HolderSerializer(many=True)
    warnings = WarningSerializer(many=True)
    rehearsals = RehearsalSerializer(many=True)


class ConfirmationSerializer(serializers.Serializer):
    holder = serializers.UUIDField(source="holder_id")
    confirmed_at = serializers.DateTimeField()
    is_signed = serializers.BooleanField()


class ConfirmInputSerializer(serializers.Serializer):
    """Optional proof: the nonce from `challenge/` and its signature by the token's key."""

    nonce = serializers.CharField(required=False, default="", max_length=500)
    signature = serializers.CharField(required=False, default="", max_length=2000)


class ChallengeSerializer(serializers.Serializer):
    nonce = serializers.CharField()
    valid_seconds = serializers.IntegerField()


class ChallengeView(APIView):
    """A nonce for the holder to sign with their token's key (RSA PKCS#1 v1.5, SHA-256)."""

    @extend_schema(tags=["custody"], summary="A possession nonce", responses=ChallengeSerializer)
    def get(self, request, holder_id):
        holder = Holder.objects.filter(pk=holder_id).first()
        if holder is None:
            raise NotFound("No such key holder.")
        ensure_allowed(can_confirm_possession(request.user, holder))
        body = {"nonce": issue_challenge(holder), "valid_seconds": CHALLENGE_SECONDS}
        return Response(ChallengeSerializer(body).data)


class RegisterView(APIView):
    """The security-domain custody register: activation record, holders, warnings and
    rehearsals. Admins, custodians, auditors and holders read it; others get 403."""

    @extend_schema(tags=["custody"], summary="The custody register", responses=RegisterSerializer)
    def get(self, request):
        ensure_allowed(can_read_register(request.user))
        return Response(RegisterSerializer(register_context(now=timezone.now())).data)


class ConfirmPossessionView(APIView):
    """The holder themself confirms they still hold their token (audited)."""

    @extend_schema(
        tags=["custody"],
        summary="Confirm possession of a holder's token",
        request=ConfirmInputSerializer,
        responses=ConfirmationSerializer,
    )
    def post(self, request, holder_id):
        body = ConfirmInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        confirmation = confirm_possession(
            holder_id=holder_id,
            user=request.user,
            now=timezone.now(),
            ctx=AuditContext.from_request(request),
            **body.validated_data,
        )
        return Response(ConfirmationSerializer(confirmation).data, status=201)
