"""FullBackup moves to the custody app (recovery records live there): the table is renamed,
rows kept; the custody app takes the model over in custody 0002."""

from django.db import migrations


def _rename_sequence(old: str, new: str):
    """PostgreSQL: the id sequence follows the table's name (SQLite has none)."""

    def rename(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER SEQUENCE IF EXISTS {old}_fullbackup_id_seq RENAME TO {new}_fullbackup_id_seq"
            )

    return rename


class Migration(migrations.Migration):
    dependencies = [
        ("posture", "0001_findings_runs_backups"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(name="FullBackup", table="custody_fullbackup"),
                migrations.RunPython(
                    _rename_sequence("posture", "custody"), _rename_sequence("custody", "posture")
                ),
            ],
            state_operations=[migrations.DeleteModel(name="FullBackup")],
        ),
    ]
