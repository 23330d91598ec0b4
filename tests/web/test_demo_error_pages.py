"""In demo mode (DEBUG on) users still get the product's 404 and 500 pages, never Django's
debug pages with the URL list and the traceback (portal/demo_errors.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def demo_settings(settings):
    settings.DEBUG = True
    settings.DEBUG_ERROR_PAGES = False
    return settings


@pytest.mark.parametrize(
    ("_case", "path"),
    [
        ("no such URL", "/no-such-page/"),
        ("a view's Http404", "/policies/key.nope/"),
    ],
)
def test_demo_shows_the_product_404_page(_case, path, demo_settings, client_for, admin_user):
    # when
    response = client_for(admin_user).get(path)

    # then
    page = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in page
    assert "There is nothing here that you may see." in page
    assert "URLconf" not in page
    assert "DEBUG = True" not in page


def test_demo_still_redirects_to_the_slashed_url(demo_settings, client_for, admin_user):
    response = client_for(admin_user).get("/policies")

    assert response.status_code == 301
    assert response["Location"] == "/policies/"


def test_demo_shows_the_product_500_page(demo_settings, client_for, admin_user):
    # given
    demo_settings.ROOT_URLCONF = "tests.web.demo_error_urls"

    # when
    response = client_for(admin_user).get("/test-failure/")

    # then
    page = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in page
    assert "RuntimeError" not in page
    assert "Traceback" not in page


def test_debug_error_pages_setting_brings_back_djangos_page(settings, client_for, admin_user):
    # given: a developer asked for Django's pages
    settings.DEBUG = True
    settings.DEBUG_ERROR_PAGES = True

    # when
    response = client_for(admin_user).get("/no-such-page/")

    # then
    assert response.status_code == 404
    assert "URLconf" in response.content.decode()
