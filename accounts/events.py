"""Names of the audit events that access changes record (listed in `audit.actions.Action`)."""

TEAM_CREATED = "team.created"
TEAM_UPDATED = "team.updated"
MEMBERSHIP_ADDED = "team.member_added"
MEMBERSHIP_REMOVED = "team.member_removed"
ROLE_GRANTED = "role.granted"
ROLE_REVOKED = "role.revoked"
