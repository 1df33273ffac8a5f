"""What the app is made of, declared once: blueprints, job kinds, periodic work, spool replayers.

`create_app` reads these tables; nothing registers itself by being imported. To add a job,
a web area or a spool kind, add a line here (see docs/ARCHITECTURE.md).
"""
from __future__ import annotations

from flask import Blueprint

from .api.routes import bp as api_bp
from .calls import journal
from .dashboard import bp as dashboard_bp
from .help.routes import bp as help_bp
from .insights.routes import bp as insights_bp
from .jobs.queue import JobKind, JobTable, Periodic, Scheduled
from .notify import jobs as notify_jobs
from .recordings import jobs as recording_jobs
from .recordings import orphans, reconcile
from .sms import jobs as sms_jobs
from .stream.routes import bp as stream_bp
from .tickets import service as tickets
from .tts.routes import bp as tts_bp
from .webhook.fallback import bp as fallback_bp
from .webhook.routes import bp as webhook_bp
from .webhook.sms_status import bp as sms_status_bp
from .webhook.transcription import bp as transcription_bp

# Look for Media Streams voicemail left by a recorder that died (ivr/recordings/orphans.py): a
# directory listing, so cheap; with the minute a capture must be idle, a message cut off by a
# crash is a ticket about a minute later, or as soon as a worker starts after that.
RECOVER_CAPTURES = Periodic("captured voicemail", orphans.recover_captures, seconds=15.0)


def job_table() -> JobTable:
    """A fresh table per app (tests add kinds of their own to theirs)."""
    return JobTable(
        kinds={
            "recording.fetch": JobKind(recording_jobs.fetch_voicemail, on_final_failure=recording_jobs.mark_failed),
            "voicemail.transcribe": JobKind(recording_jobs.transcribe_voicemail,
                                            on_final_failure=recording_jobs.mark_failed),
            "recordings.reconcile": JobKind(reconcile.reconcile_job),
            "ticket.notify": JobKind(notify_jobs.fan_out),
            "notify.email": JobKind(notify_jobs.send_email),
            "notify.webhook": JobKind(notify_jobs.post_webhook),
            "sms.send": JobKind(sms_jobs.send_text, on_final_failure=sms_jobs.gave_up),
        },
        periodic=[RECOVER_CAPTURES],
        scheduled=[Scheduled("recordings.reconcile", lambda settings: settings.reconcile_interval_seconds)],
        replayers={
            tickets.SPOOL_KIND: tickets.replay_recording,
            journal.SPOOL_KIND: journal.replay_events,
            journal.STATUS_KIND: journal.replay_status,
        },
    )


# Twilio-facing blueprints: Twilio proves itself with signatures, the API with tokens, so none of
# them takes the dashboard's CSRF token.
CSRF_EXEMPT: tuple[Blueprint, ...] = (webhook_bp, fallback_bp, transcription_bp, sms_status_bp, stream_bp, api_bp)

# Every blueprint, in registration order.
BLUEPRINTS: tuple[Blueprint, ...] = (webhook_bp, fallback_bp, transcription_bp, sms_status_bp, tts_bp, dashboard_bp,
                                     api_bp, stream_bp, insights_bp, help_bp)
