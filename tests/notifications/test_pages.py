"""Notification settings, a team's chat webhooks (admins only, audited, never shown in full)
and the demo's mail page (404 outside the demo)."""

from __future__ import annotations

import pytest
from django.utils.html import escape

from audit.models import AuditEvent
from notifications.models import Preference, TeamChannels
from tests.web.conftest import csrf_post

pytestmark = pytest.mark.django_db
TEAMS_URL = "https://contoso.webhook.office.com/webhookb2/0000-secret-part/IncomingWebhook/abcd"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/secretsecretWXYZ"


def test_an_admin_sets_webhooks_that_are_only_shown_masked(client_for, admin_user, payments_team):
    # given
    client = client_for(admin_user)
    # when
    response = csrf_post(
        client,
        "/teams/payments/notifications/",
        {"teams_webhook_url": TEAMS_URL, "slack_webhook_url": SLACK_URL},
        follow=True,
    )
    # then
    page = response.content.decode()
    row = TeamChannels.objects.get(team=payments_team)
    assert (row.teams_webhook_url, row.slack_webhook_url) == (TEAMS_URL, SLACK_URL)
    assert "https://contoso.webhook.office.com/…abcd" in page
    assert "https://hooks.slack.com/…WXYZ" in page
    assert "secret" not in page
    event = AuditEvent.objects.get(action="team.chat_channels_updated")
    assert (event.team_slug, event.before, event.after) == (
        "payments",
        {"teams": "", "slack": ""},
        {
            "teams": "https://contoso.webhook.office.com/…abcd",
            "slack": "https://hooks.slack.com/…WXYZ",
        },
    )


def test_an_empty_field_keeps_a_webhook_and_remove_clears_it(client_for, admin_user, payments_team):
    TeamChannels.objects.create(
        team=payments_team, teams_webhook_url=TEAMS_URL, slack_webhook_url=SLACK_URL
    )
    csrf_post(client_for(admin_user), "/teams/payments/notifications/", {"remove_slack": "on"})
    row = TeamChannels.objects.get(team=payments_team)
    assert (row.teams_webhook_url, row.slack_webhook_url) == (TEAMS_URL, "")


def test_a_webhook_that_is_not_https_is_refused_and_nothing_saved(
    client_for, admin_user, payments_team
):
    response = csrf_post(
        client_for(admin_user),
        "/teams/payments/notifications/",
        {"teams_webhook_url": "http://example.com/hook"},
    )
    assert response.status_code == 200
    assert "A webhook URL must start with https:// (it is a secret)." in response.content.decode()
    assert TeamChannels.objects.exists() is False
    assert AuditEvent.objects.filter(action="team.chat_channels_updated").exists() is False


@pytest.mark.parametrize("_case", ["requester", "custodian"])
def test_only_admins_edit_webhooks(_case, user_for_role, client_for, payments_team):
    response = csrf_post(
        client_for(user_for_role(_case)),
        "/teams/payments/notifications/",
        {"teams_webhook_url": TEAMS_URL},
    )
    assert response.status_code == 403
    reason = escape("Only admins set a team's Microsoft Teams and Slack webhooks.")
    assert reason in response.content.decode()
    assert TeamChannels.objects.exists() is False


def test_the_settings_page_turns_a_kind_off_and_keeps_the_locked_one_on(client_for, custodian):
    # given: every box posted except mail for outcomes; the locked box is not posted at all
    wanted = {
        "awaiting_approval:mail": "on",
        "decided:inapp": "on",
        "finished:mail": "on",
        "finished:inapp": "on",
        "expired:mail": "on",
        "expired:inapp": "on",
        "key_warning:inapp": "on",
        "posture_finding:mail": "on",
        "posture_finding:inapp": "on",
        "custody_warning:mail": "on",
        "custody_warning:inapp": "on",
    }
    # when
    response = csrf_post(client_for(custodian), "/settings/notifications/", wanted, follow=True)
    # then
    assert "Notification settings saved." in response.content.decode()
    assert list(Preference.objects.values_list("kind", "channel", "is_enabled")) == [
        ("decided", "mail", False)
    ]


def test_the_demo_mail_page_is_not_found_outside_the_demo(settings, client_for, custodian):
    settings.LOCAL_LOGIN_ENABLED = False
    assert client_for(custodian).get("/demo/mail/").status_code == 404


def test_the_demo_mail_page_shows_the_mail_files(settings, tmp_path, client_for, custodian):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    (tmp_path / "20261201-120000-1.log").write_text("Subject: [Keywarden] Approved: <b>x</b>\n")
    page = client_for(custodian).get("/demo/mail/").content.decode()
    assert "Subject: [Keywarden] Approved: &lt;b&gt;x&lt;/b&gt;" in page


def test_admins_find_each_team_s_webhooks_from_the_settings_page(
    client_for, admin_user, requester, payments_team, identity_team
):
    admin_page = client_for(admin_user).get("/settings/notifications/").content.decode()
    requester_page = client_for(requester).get("/settings/notifications/").content.decode()
    assert '<a href="/teams/identity/notifications/">Identity</a>' in admin_page
    assert '<a href="/teams/payments/notifications/">Payments</a>' in admin_page
    assert "/teams/payments/notifications/" not in requester_page
