"""key.set_rotation_schedule, key.remove_rotation_schedule and key.disable_version refuse
every bad input with the rule it broke and store nothing (the web form: tests/web)."""

from __future__ import annotations

import pytest

from approvals.models import ChangeRequest
from core.errors import Invalid
from keys.models import KeyVersion, RotationSchedule, RotationStandard
from tests.approvals.conftest import submit

pytestmark = pytest.mark.django_db
GOOD = {"name": "pay-live", "cadence": "P90D", "mode": "standing"}


def errors_of(requester, operation, params) -> dict:
    with pytest.raises(Invalid) as refused:
        submit(requester, operation, params=params)
    assert ChangeRequest.objects.exists() is False
    return refused.value.errors


@pytest.mark.parametrize(
    ("_case", "params", "expected"),
    [
        ("cadence not a duration", {"cadence": "90 days"}, {"params.cadence": [
            "Must be an ISO-8601 duration such as P90D, P3M or P1Y."]}),
        ("cadence under a day", {"cadence": "PT1H"}, {"params.cadence": [
            "Must be at least 1 days."]}),
        ("cadence longer than the class", {"cadence": "P3Y"}, {"params.cadence": [
            "Longer than the standard class allows (2 years)."]}),
        ("unknown mode", {"mode": "sometimes"}, {"params.mode": [
            "Must be one of: standing, each_time."]}),
        ("retire longer than cadence", {"retire_previous_after": "P100D"}, {
            "params.retire_previous_after": [
                "Longer than the cadence: the next run would come before the previous version "
                "is disabled."]}),
        ("empty window", {"window": {"weekdays": [], "start_hour_utc": 2, "hours": 4}}, {
            "params.window.weekdays": ["Ensure this field has at least 1 elements."]}),
        ("repeated weekday", {"window": {"weekdays": [1, 1], "start_hour_utc": 2, "hours": 4}}, {
            "params.window.weekdays": ["Weekdays must not repeat."]}),
        ("hour out of range", {"window": {"weekdays": [1], "start_hour_utc": 24, "hours": 4}}, {
            "params.window.start_hour_utc": [
                "Must be one of: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, "
                "18, 19, 20, 21, 22, 23."]}),
        ("window hours as text", {"window": {"weekdays": [1], "start_hour_utc": 2, "hours": "4"}}, {
            "params.window.hours": [
                "Must be one of: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, "
                "19, 20, 21, 22, 23, 24."]}),
        ("deleted key", {"name": "pay-deleted"}, {"params.name": [
            "Key pay-deleted is deleted; recover it first."]}),
        ("another team's key", {"name": "idn-key"}, {"params.name": [
            "Team payments may only use keys named pay-*."]}),
        ("name with a trailing newline", {"name": "pay-live\n"}, {"params.name": [
            "Key names are 1-127 letters, digits or dashes."]}),
    ],
)  # fmt: skip
def test_set_schedule_refusals(_case, params, expected, requester, inventory):
    assert errors_of(requester, "key.set_rotation_schedule", {**GOOD, **params}) == expected


def test_cadence_is_judged_against_the_keys_own_class(requester, inventory, payments_team):
    # given: the payments team's override of the standard class: 90 days at most
    RotationStandard.objects.create(
        key_class="standard", team=payments_team, max_age="P90D", warn_before="P14D"
    )
    # then
    assert errors_of(requester, "key.set_rotation_schedule", {**GOOD, "cadence": "P91D"}) == {
        "params.cadence": ["Longer than the standard class allows (90 days)."]
    }
    assert submit(requester, "key.set_rotation_schedule", params=GOOD).state == "pending"


def test_a_good_schedule_is_stored_as_a_pending_request_with_its_preview(requester, inventory):
    params = {**GOOD, "window": {"weekdays": [6, 5], "start_hour_utc": 22, "hours": 4}}
    change = submit(requester, "key.set_rotation_schedule", params=params)
    assert change.params["window"] == {"weekdays": [5, 6], "start_hour_utc": 22, "hours": 4}
    assert RotationSchedule.objects.exists() is False  # only once approved and executed


def test_remove_needs_a_schedule(requester, inventory):
    assert errors_of(requester, "key.remove_rotation_schedule", {"name": "pay-live"}) == {
        "params.name": ["Key pay-live has no rotation schedule."]
    }


def test_disable_version_refuses_the_current_or_an_unknown_version(requester, inventory):
    key = inventory["pay-live"]
    KeyVersion.objects.create(key=key, version="0123old")
    key.current_version = "0123cur"
    key.save()
    assert errors_of(
        requester, "key.disable_version", {"name": "pay-live", "version": "0123cur"}
    ) == {"params.version": ["That is the current version; disable the key with key.update."]}
    assert errors_of(
        requester, "key.disable_version", {"name": "pay-live", "version": "nosuch"}
    ) == {"params.version": ["Key pay-live has no version nosuch."]}
    change = submit(
        requester, "key.disable_version", params={"name": "pay-live", "version": "0123old"}
    )
    assert change.state == "pending"
