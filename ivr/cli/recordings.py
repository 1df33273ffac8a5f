"""`recordings reconcile`: ticket any voicemail Twilio recorded that we never heard about.
`recordings recover`: ticket any Media Streams voicemail whose recorder died with its process."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recordings", help="voicemail recordings: reconcile with Twilio, recover captures")
    rsub = p.add_subparsers(dest="recordings_command", metavar="ACTION", required=True)
    rec = rsub.add_parser("reconcile", help="list our calls' recordings at Twilio and make tickets for any we missed")
    rec.add_argument("--hours", type=int, default=None, help="how far back to look (default IVR_RECONCILE_LOOKBACK_HOURS)")
    rec.add_argument("--json", action="store_true", help="print the result as JSON")
    rec.set_defaults(func=cmd_reconcile)
    rcv = rsub.add_parser("recover", help="ticket messages captured from a stream whose recorder died (crash, kill)")
    rcv.add_argument("--json", action="store_true", help="print the result as JSON")
    rcv.set_defaults(func=cmd_recover)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from ..recordings.reconcile import ReconcileError, reconcile
    from . import CLIError
    from .context import make_app

    if args.hours is not None and not 1 <= args.hours <= 24 * 90:
        raise CLIError("--hours must be between 1 and 2160")
    app = make_app()
    try:
        report = reconcile(app, lookback_hours=args.hours)
    except ReconcileError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"{report.listed} recording(s) at Twilio, {report.ours} from our calls, "
          f"{len(report.created)} ticket(s) made")
    for item in report.created:
        print(f"  {item['reference']}  {item['created_at']}  {item['recording_sid']}")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    """What the worker does every few seconds, by hand: safe beside a running service."""
    from ..recordings.orphans import ORPHAN_AFTER_SECONDS, recover_captures
    from .context import make_app

    report = recover_captures(make_app())
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(f"{len(report.created)} ticket(s) made, {len(report.live)} still being recorded "
          f"(or idle under {ORPHAN_AFTER_SECONDS:.0f}s), {len(report.ticketed)} waiting for the store, "
          f"{len(report.removed)} empty removed, {len(report.quarantined)} quarantined, {len(report.failed)} failed")
    for item in report.created:
        print(f"  {item['reference']}  {item['created_at']}  {item['recording_sid']}  {item['caller'] or 'caller unknown'}")
    for item in report.quarantined:
        print(f"  quarantined {item['name']}: {item['reason']} ({item['moved_to']})")
    for item in report.failed:
        print(f"  failed {item['name']}: {item['error']}")
    return 1 if report.failed else 0
