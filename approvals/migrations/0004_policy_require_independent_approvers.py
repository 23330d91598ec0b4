"""Policies may require approvers independent of the requesting team; on for purges and role
changes (the stored policies of those operations; `policy_for` has the same default). A request
keeps what its policy said when it was submitted."""

from django.db import migrations, models

INDEPENDENT_BY_DEFAULT = ["key.purge", "role.assign", "role.revoke"]


def require_for_high_risk(apps, schema_editor):
    ApprovalPolicy = apps.get_model("approvals", "ApprovalPolicy")
    ApprovalPolicy.objects.filter(operation__in=INDEPENDENT_BY_DEFAULT).update(
        require_independent_approvers=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0003_open_request_key_name_case_insensitive"),
    ]

    operations = [
        migrations.AddField(
            model_name="approvalpolicy",
            name="require_independent_approvers",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="changerequest",
            name="require_independent_approvers",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(require_for_high_risk, migrations.RunPython.noop),
    ]
