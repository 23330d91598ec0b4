"""Security headers of the HTML pages: a Content Security Policy without inline script or
style, no framing, same-origin referrers; and templates that need nothing inline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STRICT = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
]


def directives(response) -> list[str]:
    return sorted(part.strip() for part in response["Content-Security-Policy"].split(";"))


@pytest.mark.parametrize(
    ("_case", "url"),
    [("sign-in", "/accounts/login/"), ("home", "/"), ("inventory", "/keys/"), ("404", "/keys/x/")],
)
def test_pages_send_a_strict_policy_and_security_headers(_case, url, client_for, requester):
    # given
    client = client_for(requester)

    # when
    response = client.get(url)

    # then
    assert set(STRICT) <= set(directives(response))
    assert "unsafe" not in response["Content-Security-Policy"]
    assert (response["X-Frame-Options"], response["Referrer-Policy"]) == ("DENY", "same-origin")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_form_action_allows_the_entra_authority_for_the_sign_out_redirect(client, settings, db):
    # given
    settings.ENTRA_AUTHORITY = (
        "https://login.microsoftonline.com/3f2a0000-0000-4000-8000-0000000000aa"
    )

    # when
    response = client.get("/accounts/login/")

    # then
    assert "form-action 'self' https://login.microsoftonline.com" in directives(response)


def test_api_docs_keep_script_src_self_and_load_their_init_script_from_a_file(
    client_for, requester
):
    # given
    client = client_for(requester)

    # when
    page = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    # then
    html = page.content.decode()
    assert "script-src 'self'" in directives(page)
    assert "style-src 'self' 'unsafe-inline'" in directives(page)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert script["Content-Type"] == "application/javascript"
    assert b"SwaggerUIBundle" in script.content


def is_mail_body(template: Path) -> bool:
    folders = template.relative_to(TEMPLATES).parts[:-1]
    return template.name == "mail.html" or "mail" in folders


def test_mail_bodies_are_told_apart_from_pages():
    mails = sorted(
        str(f.relative_to(TEMPLATES)) for f in TEMPLATES.rglob("*.html") if is_mail_body(f)
    )
    assert "notifications/mail/base.html" in mails
    assert "notifications/demo_mail.html" not in mails


@pytest.mark.parametrize(
    ("_case", "pattern"),
    [
        ("inline script", r"<script(?![^>]*\bsrc=)[^>]*>"),
        ("style attribute", r"\sstyle="),
        ("style element", r"<style"),
        ("event handler", r"\son[a-z]+="),
        ("javascript: URL", r"javascript:"),
        ("remote asset", r"(src|href)=\"https?://"),
    ],
)
def test_templates_need_nothing_the_policy_forbids(_case, pattern):
    # given: the pages (mail bodies are no pages the policy governs: mail clients want their
    # styles inline)
    files = sorted(f for f in TEMPLATES.rglob("*.html") if not is_mail_body(f))

    # when
    offenders = [f.name for f in files if re.search(pattern, f.read_text(), re.IGNORECASE)]

    # then
    assert len(files) > 20
    assert offenders == []
