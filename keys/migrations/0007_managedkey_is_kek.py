"""Key-exchange keys flagged on the inventory row (RSA-HSM with only the import operation), for
the BYOK page and the key.import check; existing rows are judged from what they already mirror."""

from django.db import migrations, models

KEK_KTY, KEK_KEY_OPS = "RSA-HSM", ["import"]  # as keys.models says today


def flag_existing_keks(apps, schema_editor):
    ManagedKey = apps.get_model("keys", "ManagedKey")
    ManagedKey.objects.filter(kty=KEK_KTY, key_ops=KEK_KEY_OPS).update(is_kek=True)


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0006_key_name_case_insensitive"),
    ]

    operations = [
        migrations.AddField(
            model_name="managedkey",
            name="is_kek",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(flag_existing_keks, migrations.RunPython.noop),
    ]
