"""The overflow detector of tests/web/test_layout.py on pages made for it: it names what widens
the page, and not what scrolls inside its own box."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import PHONE
from tests.web.test_layout import OVERFLOW_JS

pytestmark = pytest.mark.browser
WIDE = '<div id="wide" style="width: 700px">x</div>'


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize(
    ("_case", "body", "problem"),
    [
        ("fits", "<p>short</p>", "None"),
        ("scrolls inside its box", f'<div style="overflow-x: auto">{WIDE}</div>', "None"),
        (
            "a wide box in a section",
            f"<section><h2>Versions</h2>{WIDE}</section>",
            r'700 px wide on a 390 px screen: section > div#wide in section "Versions" '
            r'\(right edge 700 px, "x"\)',
        ),
        (
            "an unbreakable word",
            f'<p id="long">{"a" * 120}</p>',
            r'\d+ px wide on a 390 px screen: p#long \(right edge \d+ px, "a{40}"\)',
        ),
        (
            "positioned text escaping its scroll box",
            '<div style="overflow-x: auto"><span id="escapee" style="position: absolute; '
            'left: 500px; width: 100px">Actions</span></div>',
            r'600 px wide on a 390 px screen: div > span#escapee \(right edge 600 px, "Actions"\)',
        ),
    ],
)
def test_the_detector_names_what_widens_the_page(phone, _case, body, problem):
    # given
    phone.set_content(f"<!doctype html><html><body style='margin: 0'>{body}</body></html>")

    # when
    found = phone.evaluate(OVERFLOW_JS)

    # then
    assert re.fullmatch(problem, str(found)), found
