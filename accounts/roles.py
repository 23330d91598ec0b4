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

# Who may do what (the predicates in <app>/permissions.py, view decorators and selectors use
# these; no role list is spelled out anywhere else).
SUBMITTING_ROLES = frozenset({Role.REQUESTER})
# Besides the members of the key's team: who asks to adopt an unmanaged key for a team.
ADOPTING_ROLES = frozenset({Role.ADMIN})
DECIDING_ROLES = frozenset({Role.CUSTODIAN})
RETRYING_ROLES = frozenset({Role.CUSTODIAN})
BACKUP_DOWNLOAD_ROLES = frozenset({Role.CUSTODIAN})
POLICY_EDIT_ROLES = frozenset({Role.ADMIN})
# Who keeps a team's principal directory: its members who ask for changes, and admins.
PRINCIPAL_DIRECTORY_MEMBER_ROLES = frozenset({Role.REQUESTER})
PRINCIPAL_DIRECTORY_ADMIN_ROLES = frozenset({Role.ADMIN})
ROTATION_STANDARD_EDIT_ROLES = frozenset({Role.ADMIN})
INVENTORY_SYNC_ROLES = frozenset({Role.ADMIN})
CHAT_CHANNEL_EDIT_ROLES = frozenset({Role.ADMIN})
CUSTODY_READ_ROLES = frozenset({Role.ADMIN, Role.CUSTODIAN, Role.AUDITOR})
# Who runs (and records) a recovery rehearsal of the security domain.
REHEARSAL_ROLES = frozenset({Role.ADMIN, Role.CUSTODIAN})
# Who hears of a new custody warning (besides the holder it is about).
CUSTODY_NOTIFY_ROLES = frozenset({Role.ADMIN, Role.CUSTODIAN})
AUDIT_VERIFY_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})
# Who reads every audit event; custodians read every event about requests and keys.
AUDIT_READ_ALL_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})
AUDIT_READ_REQUESTS_AND_KEYS_ROLES = frozenset({Role.CUSTODIAN})
# The HSM posture (posture/): who reads the findings, starts a check, accepts a risk.
POSTURE_READ_ROLES = frozenset({Role.ADMIN, Role.CUSTODIAN, Role.AUDITOR})
POSTURE_CHECK_ROLES = frozenset({Role.ADMIN, Role.CUSTODIAN})
RISK_ACCEPT_ROLES = frozenset({Role.ADMIN, Role.CUSTODIAN})
