"""/insights: the figures for a chosen period as SVG charts, each with a CSV download."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required

from ..db import get_session
from .charts import bar_chart, hbar_chart
from .clock import business_tz, format_duration
from .figures import CSV_NAMES, Period, PeriodError, compute, csv_for

bp = Blueprint("insights", __name__, url_prefix="/insights", template_folder="templates")


def _period() -> Period:
    days = request.args.get("days") or ""
    default = int(days) if days.isdigit() and 1 <= int(days) <= 366 else 30
    return Period.parse(request.args.get("since"), request.args.get("until"), business_tz(), default_days=default)


@bp.get("")
@login_required
def page():
    try:
        period = _period()
    except PeriodError as exc:
        flash(str(exc), "error")
        return redirect(url_for("insights.page"))
    fig = compute(get_session(), period)
    charts = {
        "per_day": bar_chart([(d[5:], n) for d, n in fig.calls_per_day],  # MM-DD
                             "Calls per day", label_every=max(1, len(fig.calls_per_day) // 7), chart_id="chart-day"),
        "per_hour": bar_chart([(f"{h:02d}", n) for h, n in fig.calls_per_hour], "Calls by hour of day",
                              label_every=3, chart_id="chart-hour"),
        "outcomes": hbar_chart([("Solved by the phone line", fig.contained),
                                ("Hung up before an answer", fig.abandoned),
                                ("Handed to a person (message, callback, transfer)", fig.escalated),
                                ("Other (answer did not help, still going)",
                                 fig.calls - fig.contained - fig.abandoned - fig.escalated)],
                               "How calls ended", unit="calls", chart_id="chart-outcomes"),
        "tickets": hbar_chart([("Voicemail", fig.tickets_by_kind.get("voicemail", 0)),
                               ("Callback requests", fig.tickets_by_kind.get("callback", 0)),
                               ("Web messages", fig.tickets_by_kind.get("web", 0)),
                               ("Missed transfers", fig.missed_transfers)],
                              "Messages and callbacks", unit="tickets", chart_id="chart-tickets"),
        "questions": hbar_chart([(q, n) for q, n in fig.top_questions], "Top questions", chart_id="chart-questions"),
        "articles": hbar_chart([(t, n) for _, t, n in fig.top_articles], "Top answers heard",
                               chart_id="chart-articles"),
        "unanswered": hbar_chart([(q, n) for q, n, _, _ in fig.unanswered], "Questions declined or unhelpful",
                                 chart_id="chart-unanswered"),
        "ratings": bar_chart([(f"{r} ★", n) for r, n in fig.ratings.items()], "Caller ratings",
                             chart_id="chart-ratings"),
    }
    query = {"since": fig.since, "until": fig.until}
    return render_template("insights.html", fig=fig, charts=charts, query=query,
                           handling=format_duration(fig.average_handling_seconds)
                           if fig.average_handling_seconds is not None else "—")


@bp.get("/<name>.csv")
@login_required
def download(name: str):
    if name not in CSV_NAMES:
        abort(404)
    try:
        period = _period()
    except PeriodError as exc:
        abort(Response(str(exc), 400))
    fig = compute(get_session(), period)
    return Response(csv_for(fig, name), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}-{fig.since}-{fig.until}.csv"})
