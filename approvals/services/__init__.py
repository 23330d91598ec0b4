"""Use cases of the approvals app (STYLE §2): each one transaction, audited."""

from approvals.services.decide import approve_request, cancel_request, reject_request, retry_request
from approvals.services.execute import execute_request, fail_after_retries
from approvals.services.policies import (
    all_policies,
    policy_for,
    unreachable_quorum,
    update_policy,
)
from approvals.services.schedules import plan_schedule_work, run_rotation_schedules
from approvals.services.submit import Draft, draft_request, submit_request
from approvals.services.sweep import (
    expire_pending_requests,
    next_lease_expiry,
    redispatch_stalled_requests,
)

__all__ = [
    "Draft",
    "all_policies",
    "approve_request",
    "cancel_request",
    "draft_request",
    "execute_request",
    "expire_pending_requests",
    "fail_after_retries",
    "next_lease_expiry",
    "plan_schedule_work",
    "policy_for",
    "redispatch_stalled_requests",
    "reject_request",
    "retry_request",
    "run_rotation_schedules",
    "submit_request",
    "unreachable_quorum",
    "update_policy",
]
