"""Migrations posture 0002 and custody 0002 move FullBackup to the custody app: the rows
stay (the table is renamed), and new rows take the next ids."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("posture", "0001_findings_runs_backups"), ("custody", "0001_custody_register")]
AFTER = [("custody", "0002_full_backup_from_posture")]
FOLDER = "https://account.blob.core.windows.net/backups/mhsm-old-2026110100000000"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_full_backups_recorded_by_posture_are_kept_in_custody():
    finished = datetime(2026, 11, 1, tzinfo=UTC)
    try:
        # given: a backup recorded while the model was posture's
        old_apps = migrate(BEFORE)
        old = old_apps.get_model("posture", "FullBackup").objects.create(
            folder_url=FOLDER, finished_at=finished
        )
        # when
        new_apps = migrate(AFTER)
        # then
        backups = new_apps.get_model("custody", "FullBackup").objects
        assert list(backups.values_list("id", "folder_url", "finished_at", "request_id")) == [
            (old.pk, FOLDER, finished, None)
        ]
        assert backups.create(folder_url=FOLDER, finished_at=finished).pk == old.pk + 1
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
