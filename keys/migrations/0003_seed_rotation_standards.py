"""Seed the two rotation standards of ROTATION.md §1 (NIST SP 800-57 as quoted there)."""

from django.db import migrations

from keys.models import SEEDED_STANDARDS as SEEDS


def seed(apps, schema_editor):
    RotationStandard = apps.get_model("keys", "RotationStandard")
    for key_class, (max_age, warn_before) in SEEDS.items():
        RotationStandard.objects.get_or_create(
            key_class=key_class,
            team=None,
            defaults={"max_age": max_age, "warn_before": warn_before},
        )


def unseed(apps, schema_editor):
    RotationStandard = apps.get_model("keys", "RotationStandard")
    RotationStandard.objects.filter(team=None, key_class__in=SEEDS).delete()


class Migration(migrations.Migration):
    dependencies = [("keys", "0002_rotation_standards_and_compliance")]

    operations = [migrations.RunPython(seed, unseed)]
