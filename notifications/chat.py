"""Messages for chat webhooks: a Microsoft Teams Adaptive Card (incoming webhook or Workflows
"when a Teams webhook request is received") and a Slack incoming-webhook message, and the one
POST that sends either. No state: what to send comes from the notice."""

from __future__ import annotations

from dataclasses import dataclass

import requests

ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_VERSION = "1.4"
WEBHOOK_TIMEOUT_SECONDS = 10
OPEN_LABEL = "Open in Keywarden"


class WebhookFailed(Exception):
    """The webhook did not take the message (refused, down or unreachable): try again later."""


@dataclass(frozen=True)
class ChatMessage:
    subject: str
    summary: str
    link: str


def teams_payload(message: ChatMessage) -> dict:
    """A message with one Adaptive Card: the subject in bold, the summary, an open button."""
    card = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": [
            {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": message.summary, "wrap": True},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": OPEN_LABEL, "url": message.link}],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _slack_escaped(text: str) -> str:
    # Slack's mrkdwn reads &, < and > as markup; its documentation asks for these three escapes.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: ChatMessage) -> dict:
    """`text` for notifications and old clients, `blocks` for the message itself."""
    subject, summary = _slack_escaped(message.subject), _slack_escaped(message.summary)
    return {
        "text": f"{subject}: {message.link}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{subject}*\n{summary}"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": OPEN_LABEL},
                        "url": message.link,
                    }
                ],
            },
        ],
    }


def post_webhook(url: str, payload: dict) -> None:
    """POST `payload` as JSON. Raises WebhookFailed on any answer but 2xx or a network error
    (the message names the status, never the URL: it is a credential)."""
    try:
        response = requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise WebhookFailed(f"webhook unreachable: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise WebhookFailed(f"webhook answered {response.status_code}")


def masked(url: str) -> str:
    """A webhook URL as pages and the audit trail may show it: scheme, host and the last four
    characters."""
    if not url:
        return ""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]  # never userinfo
    return f"{scheme}://{host}/…{url[-4:]}"
