"""One open request per key, comparing key names in any case (Managed HSM names are
case-insensitive: a request on pay-ORDERS is a request on pay-orders)."""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0002_rotation_schedules"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="changerequest",
            name="request_one_open_per_key",
        ),
        migrations.AddConstraint(
            model_name="changerequest",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("key_name"),
                condition=models.Q(("state__in", ["pending", "approved", "running"])),
                name="request_one_open_per_key",
            ),
        ),
    ]
