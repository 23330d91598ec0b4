"""Geometry of the dashboard's SVG charts (no I/O): the report's series turned into bars, lines
and labels that small templates draw. Colours come from classes in the static CSS (the CSP
forbids inline style)."""

from __future__ import annotations

from reports.selectors import AGE_BINS

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 40
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH = 22, 10, 120


def _ceiling(value: int) -> int:
    """A round top for an axis (at least 1)."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if value <= step:
            return step
    return value


def _limit_x(days: int, slot: float) -> float:
    """Where `days` falls on the histogram's category axis (linear within its bin)."""
    for index, (_label, low, high) in enumerate(AGE_BINS):
        if high is None:  # the open-ended last bin: its left edge, or within it
            return LEFT + slot * (index + (0.0 if days <= low else 0.5))
        if days < high:
            return LEFT + slot * (index + max(0.0, (days - low) / (high - low)))
    return LEFT + PLOT_WIDTH


def histogram_chart(histogram: dict) -> dict:
    """Bars of the age bins, and one dashed marker per class limit."""
    bins = histogram["bins"]
    top = _ceiling(max((b["keys"] for b in bins), default=0))
    slot = PLOT_WIDTH / len(bins)
    bars = []
    for index, item in enumerate(bins):
        height = PLOT_HEIGHT * item["keys"] / top
        bars.append(
            {
                "x": round(LEFT + slot * index + slot * 0.15, 1),
                "y": round(TOP + PLOT_HEIGHT - height, 1),
                "width": round(slot * 0.7, 1),
                "height": round(height, 1),
                "label_x": round(LEFT + slot * (index + 0.5), 1),
                "value_y": round(TOP + PLOT_HEIGHT - height - 4, 1),
                **item,
            }
        )
    limits = [
        {**limit, "x": round(_limit_x(limit["days"], slot), 1)}
        for limit in histogram["class_limits"]
    ]
    return {**_frame(top), "bars": bars, "limits": limits}


def _frame(top: int) -> dict:
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": TOP + PLOT_HEIGHT,
        "label_y": TOP + PLOT_HEIGHT + 18,
        "axis_top": top,
    }


def trend_chart(trend: list[dict]) -> dict:
    """Two lines over the days: compliant % (0-100) and overdue (scaled to its maximum)."""
    top = _ceiling(max((day["overdue"] for day in trend), default=0))
    step = PLOT_WIDTH / max(len(trend) - 1, 1)

    def points(values: list[float | None], scale: float) -> list[tuple[float, float]]:
        return [
            (
                round(LEFT + step * index, 1),
                round(TOP + PLOT_HEIGHT - PLOT_HEIGHT * value / scale, 1),
            )
            for index, value in enumerate(values)
            if value is not None
        ]

    compliant = points([d["compliant_percent"] for d in trend], 100)
    overdue = points([d["overdue"] for d in trend], top)
    return {
        **_frame(top),
        "compliant_points": " ".join(f"{x},{y}" for x, y in compliant),
        "overdue_points": " ".join(f"{x},{y}" for x, y in overdue),
        # Dots too: a line needs two days, and the dots show which days have a snapshot.
        "compliant_dots": compliant,
        "overdue_dots": overdue,
        "first_day": trend[0]["day"] if trend else None,
        "last_day": trend[-1]["day"] if trend else None,
    }


def team_bars_chart(teams: list[dict], states: tuple[str, ...]) -> dict:
    """One horizontal bar per team, split by compliance state (widths share one scale)."""
    top = max((team["keys"] for team in teams), default=0) or 1
    width = WIDTH - LABEL_WIDTH - RIGHT
    rows = []
    for index, team in enumerate(teams):
        y, x, segments = TOP + index * (BAR_HEIGHT + BAR_GAP), float(LABEL_WIDTH), []
        for state in states:
            count = team["states"][state]
            if count:
                segment_width = width * count / top
                segments.append(
                    {
                        "state": state,
                        "count": count,
                        "x": round(x, 1),
                        "width": round(segment_width, 1),
                    }
                )
                x += segment_width
        rows.append({"team": team["team_name"], "y": y, "text_y": y + 15, "segments": segments})
    height = TOP + len(teams) * (BAR_HEIGHT + BAR_GAP) + 8
    return {"width": WIDTH, "height": height, "bar_height": BAR_HEIGHT, "rows": rows}
