"""Key names unique in any case, as in Managed HSM (pay-ORDERS is pay-orders). The plain unique
index on name stays: the sync's upsert names it (ON CONFLICT (name))."""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0005_key_warnings"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="managedkey",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("name"),
                name="key_name_unique_case_insensitive",
            ),
        ),
    ]
