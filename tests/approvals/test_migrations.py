"""Migration approvals 0004 turns independent approvers on for the stored purge and role-change
policies, and leaves the others as they were."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("approvals", "0003_open_request_key_name_case_insensitive")]
AFTER = [("approvals", "0004_policy_require_independent_approvers")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_independent_approvers_are_turned_on_for_stored_purge_and_role_policies():
    try:
        # given: stored policies from before the field existed
        old_apps = migrate(BEFORE)
        ApprovalPolicy = old_apps.get_model("approvals", "ApprovalPolicy")
        for operation in ("key.purge", "role.assign", "role.revoke", "key.rotate"):
            ApprovalPolicy.objects.create(operation=operation)
        # when
        new_apps = migrate(AFTER)
        # then
        stored = new_apps.get_model("approvals", "ApprovalPolicy").objects
        assert dict(stored.values_list("operation", "require_independent_approvers")) == {
            "key.purge": True,
            "role.assign": True,
            "role.revoke": True,
            "key.rotate": False,
        }
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
