"""`recordings reconcile`: ticket any voicemail Twilio recorded that we never heard about.
`recordings recover`: ticket any Media Streams voicemail whose recorder died with its process."""
from __future__ import annotations

import json

import click

from ..recordings.orphans import ORPHAN_AFTER_SECONDS, recover_captures
from ..recordings.reconcile import ReconcileError, reconcile
from . import AreaGroup, CLIError
from .context import load_app


@click.group(cls=AreaGroup, help="voicemail recordings: reconcile with Twilio, recover captures")
def recordings() -> None:
    pass


@recordings.command("reconcile", help="list our calls' recordings at Twilio and make tickets for any we missed")
@click.option("--hours", type=int, default=None, help="how far back to look (default IVR_RECONCILE_LOOKBACK_HOURS)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def cmd_reconcile(hours: int | None, as_json: bool) -> int:
    if hours is not None and not 1 <= hours <= 24 * 90:
        raise CLIError("--hours must be between 1 and 2160")
    app = load_app()
    try:
        report = reconcile(app, lookback_hours=hours)
    except ReconcileError as exc:
        raise CLIError(str(exc)) from None
    if as_json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"{report.listed} recording(s) at Twilio, {report.ours} from our calls, "
          f"{len(report.created)} ticket(s) made")
    for item in report.created:
        print(f"  {item['reference']}  {item['created_at']}  {item['recording_sid']}")
    return 0


@recordings.command("recover", help="ticket messages captured from a stream whose recorder died (crash, kill)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def cmd_recover(as_json: bool) -> int:
    """What the worker does every few seconds, by hand: safe beside a running service."""

    report = recover_captures(load_app())
    if as_json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"{len(report.created)} ticket(s) made, {len(report.live)} still being recorded "
          f"(or idle under {ORPHAN_AFTER_SECONDS:.0f}s), {len(report.ticketed)} waiting for the store, "
          f"{len(report.removed)} empty removed, {len(report.quarantined)} quarantined, {len(report.failed)} failed")
    for item in report.created:
        caller = item["caller"] or "caller unknown"
        print(f"  {item['reference']}  {item['created_at']}  {item['recording_sid']}  {caller}")
    for item in report.quarantined:
        print(f"  quarantined {item['name']}: {item['reason']} ({item['moved_to']})")
    for item in report.failed:
        print(f"  failed {item['name']}: {item['error']}")
    return 1 if report.failed else 0
