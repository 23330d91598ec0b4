"""The /rotation/ page and its CSV: the hand-counted numbers per role, charts as SVG beside
their tables, nothing inline the CSP forbids, 404/400/403, and formula-safe CSV cells."""

from __future__ import annotations

import csv
import html as html_text
import io
import re
from datetime import datetime, timezone

import pytest

from reports.exports import HEADER, cell_text, csv_lines
from tests.factories import ManagedKeyFactory
from tests.reports.conftest import NOW

AT_NOW = {"now": NOW.isoformat()}
ALL_TEAMS = {
    "keys": "43",
    "compliant_percent": "30.0 %",
    "overdue": "9",
    "due_30_days": "7",
    "expiring_30_days": "3",
    "no_mechanism": "18",
    "unmanaged": "4",
    "drift": "3",
}
PAYMENTS = {
    "keys": "15",
    "compliant_percent": "42.9 %",
    "overdue": "2",
    "due_30_days": "2",
    "expiring_30_days": "1",
    "no_mechanism": "5",
    "unmanaged": "1",
    "drift": "1",
}


def page_tiles(response) -> dict:
    return dict(re.findall(r'data-tile="(\w+)">([^<]+)<', response.content.decode()))


def table_rows(response, table_id: str) -> list[list[str]]:
    html = response.content.decode()
    table = rf'<table id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>'
    body = re.search(table, html, re.S).group(1)
    return [
        [
            html_text.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


@pytest.mark.parametrize(
    ("_case", "role", "tiles"),
    [
        ("admin", "admin", ALL_TEAMS),
        ("custodian", "custodian", ALL_TEAMS),
        ("auditor", "auditor", ALL_TEAMS),
        ("requester", "requester", PAYMENTS),
    ],
)
def test_the_page_shows_the_hand_counted_tiles(
    _case, role, tiles, seeded_inventory, user_for_role, client_for
):
    # when
    response = client_for(user_for_role(role)).get("/rotation/", AT_NOW)
    # then
    assert response.status_code == 200
    assert page_tiles(response) == tiles


def test_the_page_draws_each_chart_as_svg_beside_its_table(
    seeded_inventory, admin_user, client_for
):
    # when
    response = client_for(admin_user).get("/rotation/", AT_NOW)
    html = response.content.decode()
    # then
    assert html.count('<svg class="chart"') == 2  # no snapshots yet: no trend chart
    assert table_rows(response, "age-table") == [
        ["0-30 d", "9"],
        ["30-90 d", "10"],
        ["90-180 d", "12"],
        ["180 d-1 y", "3"],
        ["1-2 y", "3"],
        ["> 2 y", "6"],
    ]
    assert html.count('class="limit limit-') == 2
    assert table_rows(response, "team-table") == [
        ["Identity", "14", "23.1 %", "4", "2", "7", "800 days"],
        ["Payments", "15", "42.9 %", "2", "2", "5", "800 days"],
        ["Storage", "13", "25.0 %", "2", "3", "5", "800 days"],
        ["(no team)", "1", "0.0 %", "1", "0", "1", "900 days"],
    ]


def test_nothing_inline_that_the_csp_forbids(seeded_inventory, admin_user, client_for):
    # when
    html = client_for(admin_user).get("/rotation/", AT_NOW).content.decode()
    # then
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # only scripts from static/
    assert "style=" not in html
    assert "<style" not in html


def test_the_requester_page_lists_only_their_teams_keys(
    seeded_inventory, request_history, requester, client_for
):
    # when
    response = client_for(requester).get("/rotation/", AT_NOW)
    # then
    assert [row[0] for row in table_rows(response, "team-table")] == ["Payments"]
    assert [row[2] for row in table_rows(response, "upcoming-table")] == [
        "pay-c-2",
        "pay-h-7",
        "pay-d-3",
    ]
    assert [row[1] for row in table_rows(response, "runs-table")] == ["pay-b-1", "pay-d-3"]
    assert table_rows(response, "sla-table")[1][:4] == [
        "Rotate key",
        "6",
        "2.0 h / 3.6 h",
        "4.5 h / 5.7 h",
    ]
    assert "idn-" not in response.content.decode()


@pytest.mark.parametrize(
    ("_case", "query", "status"),
    [
        ("another team's", {"team": "identity"}, 404),
        ("no such team", {"team": "nonesuch"}, 404),
        ("unknown class", {"class": "nonesuch"}, 400),
        ("now not a date", {"now": "soon"}, 400),
    ],
)
def test_requester_gets_404_for_another_team_and_400_for_bad_filters(
    _case, query, status, seeded_inventory, requester, client_for
):
    # when
    response = client_for(requester).get("/rotation/", query)
    # then
    assert response.status_code == status
    assert "idn-" not in response.content.decode()


def test_outsider_gets_403(outsider, client_for):
    assert client_for(outsider).get("/rotation/").status_code == 403


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("pay-key", "pay-key"),
        (None, ""),
        (True, "yes"),
        (12, "12"),
        (datetime(2026, 6, 1, tzinfo=timezone.utc), "2026-06-01T00:00:00+00:00"),
    ],
)
def test_a_csv_cell_never_starts_a_formula(value, cell):
    [written] = csv_lines([[cell_text(value)]])
    assert next(csv.reader(io.StringIO(written))) == [cell]


def test_the_csv_lists_every_key_in_scope_with_formula_safe_cells(
    seeded_inventory, payments_team, requester, client_for
):
    # given: a key whose name a spreadsheet would run (a valid Managed HSM name)
    ManagedKeyFactory(name="-2+3", team=payments_team, current_version_created_on=NOW)
    # when
    response = client_for(requester).get("/rotation/keys.csv", AT_NOW)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert rows[0] == HEADER
    assert len(rows) == 1 + 16
    assert rows[1][0] == "'-2+3"
    by_name = {row[0]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    live = {name for name in seeded_inventory if name[:4] == "pay-" and name != "pay-m-12"}
    assert set(by_name) == {"'-2+3", *live}
    assert by_name["pay-e-4"]["compliance"] == "overdue"
    assert by_name["pay-e-4"]["version_age_days"] == "800"
    assert by_name["pay-j-9"]["managed"] == "no"
    assert by_name["pay-k-10"]["drift"] == "yes"


def test_admin_home_shows_the_four_headline_tiles_and_links_the_dashboard(
    seeded_inventory, admin_user, client_for
):
    # when
    response = client_for(admin_user).get("/")
    # then: compliance is stored, so the counts that need no window match NOW's
    tiles = page_tiles(response)
    assert list(tiles) == ["compliant_percent", "overdue", "due_30_days", "expiring_30_days"]
    assert (tiles["compliant_percent"], tiles["overdue"]) == ("30.0 %", "9")
    assert 'href="/rotation/"' in response.content.decode()


def test_requester_home_shows_their_teams_tiles(seeded_inventory, requester, client_for):
    # when
    tiles = page_tiles(client_for(requester).get("/"))
    # then
    assert len(tiles) == 8
    assert (tiles["keys"], tiles["compliant_percent"], tiles["overdue"]) == ("15", "42.9 %", "2")
    assert (tiles["unmanaged"], tiles["drift"], tiles["no_mechanism"]) == ("1", "1", "5")
