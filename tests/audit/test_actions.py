import pytest

from audit.actions import Action


@pytest.mark.parametrize(
    ("_case", "state", "action"),
    [
        ("pending", "pending", Action.REQUEST_SUBMITTED),
        ("approved", "approved", Action.REQUEST_APPROVED),
        ("running", "running", Action.REQUEST_ATTEMPT_STARTED),
        ("succeeded", "succeeded", Action.REQUEST_SUCCEEDED),
        ("failed", "failed", Action.REQUEST_FAILED),
        ("rejected", "rejected", Action.REQUEST_REJECTED),
        ("cancelled", "cancelled", Action.REQUEST_CANCELLED),
        ("expired", "expired", Action.REQUEST_EXPIRED),
    ],
)
def test_each_request_state_has_an_event(_case, state, action):
    assert Action.for_state(state) == action


def test_state_without_event_is_refused():
    with pytest.raises(ValueError, match="no audit action for request state 'draft'"):
        Action.for_state("draft")


def test_event_names_are_dotted_lowercase():
    assert [name for name in Action.values if name != name.lower() or "." not in name] == []
