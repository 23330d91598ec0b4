"""The full HSM backup (issue 18) as a dual-approved request: the HSM writes everything it
holds to an Azure Storage blob container, authenticating with its own managed identity, so no
SAS token (a secret) ever sits in the params that are shown, hashed and audited. Asked for by
the CUSTODY_TEAM's members as the custody operations are, and run by the worker as the HSM's
administrator (HSM_CEREMONY_PRINCIPAL_ID), like the download ceremony; the backup rule of
the posture (`hsm.no_recent_full_backup`) reads the FullBackup row it records."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import OperationSpec, Outcome, Problems
from approvals.operations.custody import custody_team_only, raise_problems
from approvals.operations.fields import PatternField, StrictSerializer
from approvals.operations.plan import AlreadyDone, ExecutionContext, HsmCall, run_plan
from audit.context import AuditContext
from custody import services
from keys.gateway import get_ceremony_gateway

# What a backup request's `key_name` reads: one backup open at a time, beside register changes.
BACKUP_KEY_NAME = "(full backup)"
# https://<account>.blob.<cloud suffix>/<container>: an account of 3-24 lower-case letters or
# digits; a container of 3-63 lower-case letters, digits and single inner dashes.
CONTAINER_URL_PATTERN = (
    r"\Ahttps://[a-z0-9]{3,24}\.blob\.core\."
    r"(?:windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)/"
    r"(?=[a-z0-9-]{3,63}\Z)[a-z0-9]+(?:-[a-z0-9]+)*\Z"
)
FOLDER = "backup_folder_url"  # the checkpoint's record of a backup that finished


class ContainerUrlField(PatternField):
    pattern = CONTAINER_URL_PATTERN
    message = (
        "An Azure Storage blob container URL, https://<account>.blob.core.windows.net/"
        "<container>, with no SAS token or path: the HSM writes with its managed identity."
    )


class FullBackupParams(StrictSerializer):
    container_url = ContainerUrlField(
        label="Storage container URL",
        max_length=200,
        help_text="The HSM's managed identity needs Storage Blob Data Contributor on it.",
    )


@dataclass(frozen=True)
class BackupFinished(AlreadyDone):
    """Each backup makes a new folder, so it is never repeated once it finished: an attempt
    lost after the backup but before the record finds the folder in the checkpoint."""

    def before(self, ctx):
        return ctx.checkpoint.get(FOLDER)


class HsmFullBackup(OperationSpec):
    operation = Operation.HSM_FULL_BACKUP
    params = FullBackupParams

    def key_name(self, params: dict) -> str:
        return BACKUP_KEY_NAME

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        custody_team_only(problems, team)
        raise_problems(problems)
        return params

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [
            HsmCall(
                "full_backup", container_url=params["container_url"], already_done=BackupFinished()
            )
        ]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        # The HSM's administrator backs it up: Keywarden's own role holds no backup action.
        administrator = ctx.acting_as(get_ceremony_gateway())
        (folder_url,) = run_plan(
            self.plan(ctx.change.params, request_id=ctx.change.pk), ctx=administrator
        )
        administrator.remember({FOLDER: folder_url})
        return self.outcome(ctx, [folder_url])

    def outcome(self, ctx, results) -> Outcome:
        change, folder_url = ctx.change, results[0]
        container_url = change.params["container_url"]
        audit = AuditContext.worker(task_id="")
        return Outcome(
            result={"container_url": container_url, "folder_url": folder_url},
            hsm_request_ids=[],
            record_inventory=lambda now: services.record_full_backup(
                request_id=change.pk,
                container_url=container_url,
                folder_url=folder_url,
                now=now,
                ctx=audit,
            ),
        )
