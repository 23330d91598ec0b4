"""A team's principal directory over the API: `GET/POST /api/v1/teams/<slug>/principals/`
(POST registers, or updates the entry with that object id) and
`DELETE /api/v1/teams/<slug>/principals/<object id>/`. Same rules as the page."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import PrincipalType, TeamPrincipal
from accounts.selectors import principals_of, team_visible_to
from accounts.services import remove_principal, save_principal
from audit.context import AuditContext


def principal_type_field(**kwargs) -> serializers.ChoiceField:
    """The values role.assign takes too (one enum in the schema)."""
    return serializers.ChoiceField(choices=PrincipalType.values, **kwargs)


class TeamPrincipalSerializer(serializers.ModelSerializer):
    principal_type = principal_type_field(read_only=True)

    class Meta:
        model = TeamPrincipal
        fields = ["object_id", "display_name", "principal_type", "description", "updated_at"]


class PrincipalInputSerializer(serializers.ModelSerializer):
    """Shape only; save_principal checks the rest (team, permission)."""

    principal_type = principal_type_field()

    class Meta:
        model = TeamPrincipal
        fields = ["object_id", "display_name", "principal_type", "description"]
        validators: list = []  # the (team, object_id) pair is an update, not an error


class TeamPrincipalListView(APIView):
    """The directory of one team you may see; members and admins register principals."""

    @extend_schema(tags=["principals"], responses=TeamPrincipalSerializer(many=True))
    def get(self, request, team_slug):
        team = team_visible_to(request.user, team_slug)
        return Response(TeamPrincipalSerializer(principals_of(team), many=True).data)

    @extend_schema(
        tags=["principals"],
        request=PrincipalInputSerializer,
        responses={
            200: TeamPrincipalSerializer,
            201: TeamPrincipalSerializer,
            400: OpenApiResponse(description="Field errors"),
            403: OpenApiResponse(description="Not a member of the team nor an admin"),
        },
    )
    def post(self, request, team_slug):
        team = team_visible_to(request.user, team_slug)
        body = PrincipalInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        is_new = not principals_of(team).filter(object_id=body.validated_data["object_id"]).exists()
        principal = save_principal(
            team=team,
            actor=request.user,
            ctx=AuditContext.from_request(request),
            **body.validated_data,
        )
        code = status.HTTP_201_CREATED if is_new else status.HTTP_200_OK
        return Response(TeamPrincipalSerializer(principal).data, status=code)


class TeamPrincipalDetailView(APIView):
    @extend_schema(tags=["principals"], responses={204: None})
    def delete(self, request, team_slug, object_id):
        team = team_visible_to(request.user, team_slug)
        remove_principal(
            team=team,
            actor=request.user,
            object_id=object_id,
            ctx=AuditContext.from_request(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
