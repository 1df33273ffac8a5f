"""`recordings reconcile`: ticket any voicemail Twilio recorded that we never heard about."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recordings", help="voicemail recordings: reconcile with Twilio")
    rsub = p.add_subparsers(dest="recordings_command", metavar="ACTION", required=True)
    rec = rsub.add_parser("reconcile", help="list our calls' recordings at Twilio and make tickets for any we missed")
    rec.add_argument("--hours", type=int, default=None, help="how far back to look (default IVR_RECONCILE_LOOKBACK_HOURS)")
    rec.add_argument("--json", action="store_true", help="print the result as JSON")
    rec.set_defaults(func=cmd_reconcile)


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
