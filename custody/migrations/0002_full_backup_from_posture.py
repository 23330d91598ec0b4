"""FullBackup taken over from the posture app (posture 0002 renamed its table, rows kept),
then linked to the `hsm.full_backup` request that ran it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0001_custody_register"),
        ("posture", "0002_full_backup_moved_to_custody"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="FullBackup",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("folder_url", models.CharField(max_length=500)),
                        ("finished_at", models.DateTimeField()),
                    ],
                    options={"ordering": ["-finished_at"]},
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="fullbackup",
            name="container_url",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="fullbackup",
            name="request_id",
            field=models.UUIDField(blank=True, null=True, unique=True),
        ),
    ]
