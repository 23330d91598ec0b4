"""Users, teams, memberships, role grants and portal roles: the layer every app stands on."""
