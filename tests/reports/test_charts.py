"""Chart geometry (no I/O): bars scale to a round axis top, class limits sit where their age
falls on the histogram's bands, and a trend of one day still shows its dots."""

from __future__ import annotations

from datetime import date

from reports.charts import LEFT, PLOT_WIDTH, histogram_chart, trend_chart


def histogram(keys: list[int], limits: list[tuple[str, int]]) -> dict:
    bounds = [(0, 30), (30, 90), (90, 180), (180, 365), (365, 730), (730, None)]
    return {
        "bins": [
            {"label": str(low), "from_days": low, "to_days": high, "keys": count}
            for (low, high), count in zip(bounds, keys, strict=True)
        ],
        "unknown_age": 0,
        "class_limits": [
            {"key_class": name, "max_age": f"P{days}D", "days": days} for name, days in limits
        ],
    }


def test_class_limits_sit_at_their_age_on_the_band_axis():
    # when
    chart = histogram_chart(histogram([9, 10, 12, 3, 3, 6], [("active", 90), ("standard", 730)]))
    # then: 90 days is the edge of the 2nd band, 730 the edge of the last one
    slot = PLOT_WIDTH / 6
    assert [limit["x"] for limit in chart["limits"]] == [
        round(LEFT + 2 * slot, 1),
        round(LEFT + 5 * slot, 1),
    ]
    assert chart["axis_top"] == 20
    assert [bar["keys"] for bar in chart["bars"]] == [9, 10, 12, 3, 3, 6]
    assert chart["bars"][2]["height"] == round(184 * 12 / 20, 1)


def test_a_limit_inside_a_band_is_placed_proportionally():
    # when: 60 days is halfway through 30-90
    chart = histogram_chart(histogram([1, 0, 0, 0, 0, 0], [("monthly", 60)]))
    # then
    assert chart["limits"][0]["x"] == round(LEFT + 1.5 * PLOT_WIDTH / 6, 1)


def test_a_one_day_trend_has_dots():
    # when
    chart = trend_chart(
        [{"day": date(2026, 6, 1), "compliant_percent": 50.0, "overdue": 2, "keys": 4}]
    )
    # then
    assert chart["compliant_dots"] == [(LEFT, 16 + 184 / 2)]
    assert chart["overdue_dots"] == [(LEFT, 16.0)]
    assert chart["axis_top"] == 2
