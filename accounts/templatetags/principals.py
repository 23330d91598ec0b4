"""`{% principal_name object_id team_id as name %}`: the display name a team's principal
directory gives an object id ("" when it lists none), for pages that show principal ids."""

from __future__ import annotations

from django import template

from accounts.selectors import principal_names

register = template.Library()


@register.simple_tag
def principal_name(object_id, team_id) -> str:
    return principal_names([object_id], team_id=team_id).get(str(object_id).lower(), "")
