"""The usage page (compute time per day, task kind and key; the allowance left)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .. import selectors

CHART_DAYS = 30
CHART_WIDTH = 600
CHART_HEIGHT = 160
CHART_LABEL_HEIGHT = 18


def _chart(days: list[dict], field: str) -> dict:
    """Geometry of a server-rendered SVG bar chart of ``field`` per day, scaled to the busiest day.

    The first and last day labels are anchored at the chart's edges (start and end), so they are not cut.
    """
    peak = max((day[field] for day in days), default=0) or 1
    slot = CHART_WIDTH / len(days)
    bars = []
    for index, day in enumerate(days):
        height = round(day[field] / peak * CHART_HEIGHT, 1)
        anchor, label_x = "middle", round(index * slot + slot / 2, 1)
        if index == 0:
            anchor, label_x = "start", 0
        elif index == len(days) - 1:
            anchor, label_x = "end", CHART_WIDTH
        bars.append({**day, "value": day[field], "x": round(index * slot + 1, 1), "width": round(slot - 2, 1),
                     "height": height, "y": round(CHART_HEIGHT - height, 1), "label_x": label_x,
                     "anchor": anchor, "labelled": index % 5 == 0 or index == len(days) - 1})
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT + CHART_LABEL_HEIGHT,
            "bar_height": CHART_HEIGHT, "label_y": CHART_HEIGHT + CHART_LABEL_HEIGHT - 4, "peak": peak}


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    since = selectors.month_start()
    month = selectors.usage_total(user=request.user, since=since)
    allowance = settings.MONTHLY_COMPUTE_SECONDS
    days = selectors.usage_by_day(user=request.user, days=CHART_DAYS)
    return render(request, "dashboard/usage.html", {
        "month_start": since,
        "renews_on": selectors.next_month_start(),
        "month": month,
        "allowance": allowance,
        "unlimited": allowance <= 0,
        "left": max(0.0, allowance - month["compute_seconds"]) if allowance > 0 else None,
        "percent_used": min(100, round(month["compute_seconds"] / allowance * 100)) if allowance > 0 else None,
        "days": days,
        "chart": _chart(days, "compute_seconds"),
        "token_chart": _chart(days, "tokens") if any(day["tokens"] for day in days) else None,
        "by_kind": selectors.usage_by_kind(user=request.user, since=since),
        "by_key": selectors.usage_by_key(user=request.user, since=since),
    })
