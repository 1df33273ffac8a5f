"""`report --since DAY [--until DAY] [--json]`: the insights page's figures on the command line."""
from __future__ import annotations

import json

import click

from ..insights.clock import business_tz, format_duration
from ..insights.figures import Period, PeriodError, compute
from . import CLIError
from .context import app_session, load_app


def _pct(rate: float | None) -> str:
    return f"{rate * 100:.0f}%" if rate is not None else "-"


@click.command("report", help="how the desk is doing: calls, containment, tickets, questions, ratings")
@click.option("--since", help="first day, e.g. 2026-11-01 (default: 30 days ago)")
@click.option("--until", help="last day, inclusive (default: today)")
@click.option("--json", "as_json", is_flag=True)
def report(since: str | None, until: str | None, as_json: bool) -> int:
    app = load_app()
    try:
        period = Period.parse(since, until, business_tz(app))
    except PeriodError as exc:
        raise CLIError(str(exc)) from None
    with app_session(app) as session:
        fig = compute(session, period)
    if as_json:
        print(json.dumps(fig.as_dict(), indent=2))
        return 0
    aht = format_duration(fig.average_handling_seconds) if fig.average_handling_seconds is not None else "-"
    lines = [
        f"{fig.since} to {fig.until} ({fig.timezone})",
        f"calls: {fig.calls}  solved without a person: {fig.contained} ({_pct(fig.containment_rate)})"
        f"  abandoned: {fig.abandoned} ({_pct(fig.abandonment_rate)})  handed to a person: {fig.escalated}",
        "tickets: " + ", ".join(f"{k} {v}" for k, v in fig.tickets_by_kind.items())
        + f", missed transfers {fig.missed_transfers}",
        f"resolved: {fig.resolved_tickets}  average handling time: {aht}",
        f"ratings: {sum(fig.ratings.values())}  "
        f"average: {fig.average_rating if fig.average_rating is not None else '-'}",
        "busiest days: " + (", ".join(f"{d} {n}" for d, n in sorted(fig.calls_per_day, key=lambda x: -x[1])[:3]
                                      if n) or "-"),
        "top questions:",
        *[f"  {n:>4}  {q}" for q, n in fig.top_questions],
        "top answers:",
        *[f"  {n:>4}  {t}" for _, t, n in fig.top_articles],
        "declined or unhelpful:",
        *[f"  {n:>4}  {q}" for q, n, _, _ in fig.unanswered],
    ]
    print("\n".join(lines))
    return 0
