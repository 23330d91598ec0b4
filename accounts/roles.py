"""Portal roles (PRODUCT.md §1): requester via membership; custodian, admin, auditor granted."""

from django.db import models


class Role(models.TextChoices):
    REQUESTER = "requester", "Requester"
    CUSTODIAN = "custodian", "Key custodian"
    ADMIN = "admin", "Administrator"
    AUDITOR = "auditor", "Auditor"


# Roles that are granted explicitly (requester follows from team membership).
GRANTED_ROLES = (Role.CUSTODIAN, Role.ADMIN, Role.AUDITOR)
# Roles that may read every team's keys, requests and audit events.
GLOBAL_READ_ROLES = frozenset({Role.CUSTODIAN, Role.ADMIN, Role.AUDITOR})
