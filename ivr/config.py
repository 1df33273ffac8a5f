"""Settings come from the environment (and an optional `.env`), checked once at start.

Every setting is a typed field of `Settings`, declared once with its environment variable and
parser; nothing else in the service reads the environment. A bad setting must stop the service
with one line naming it, not surface later as a 500 in the middle of a call.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
_TOKEN_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_EMAIL_RE = re.compile(r"^[^@\s,]+@[^@\s,]+$")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


# --------------------------------------------------------------------------- parsers
# Each takes (variable name, raw text) and returns the typed value or raises ConfigError.
Parser = Callable[[str, str], Any]


def text(name: str, raw: str) -> str:
    return raw.strip()


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (or on/off), got {raw!r}")


def whole(low: int, high: int) -> Parser:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
        return value

    return parse


def number(low: float, high: float) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
        return value

    return parse


def one_of(*choices: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def path(name: str, raw: str) -> Path:
    return Path(raw.strip()).expanduser()


def optional_path(name: str, raw: str) -> Path | None:
    return Path(raw.strip()).expanduser() if raw.strip() else None


def url(name: str, raw: str) -> str:
    raw = raw.strip()
    if not re.match(r"^https?://[^/\s]+", raw):
        raise ConfigError(f"{name} must be an http(s) URL such as https://ivr.example.com, got {raw!r}")
    return raw.rstrip("/")


def zone(name: str, raw: str) -> str:
    from zoneinfo import ZoneInfo

    value = raw.strip()
    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError):
        raise ConfigError(f"{name} must be an IANA time zone such as Europe/London, got {raw!r}") from None
    return value


def emails(name: str, raw: str) -> tuple[str, ...]:
    found = tuple(a.strip() for a in raw.split(",") if a.strip())
    for address in found:
        if not _EMAIL_RE.match(address):
            raise ConfigError(f"{name} must be comma-separated email addresses, got {address!r}")
    return found


# --- call flow (flow) ---
_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_SIP_RE = re.compile(r"^sips?:[A-Za-z0-9._~+\-]+@[A-Za-z0-9.\-]+(:\d{1,5})?$")


def is_dial_destination(value: str) -> bool:
    """An E.164 number (+15551234567) or a SIP address (sip:desk@pbx.example.com)."""
    return bool(_E164_RE.match(value) or _SIP_RE.match(value))


def destinations(name: str, raw: str) -> tuple[str, ...]:
    found = tuple(item.strip() for item in raw.split(",") if item.strip())
    for item in found:
        if not is_dial_destination(item):
            raise ConfigError(f"{name} must list E.164 numbers (+15551234567) or sip: addresses, got {item!r}")
    return found


# --- hours, SMS and orders (desk) ---
def sms_sender(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.match(r"^(\+[1-9][0-9]{6,14}|MG[0-9a-fA-F]{32})$", value):
        raise ConfigError(f"{name} must be a Twilio number in E.164 form (+15551234567) or a "
                          f"Messaging Service sid (MG...), got {raw!r}")
    return value


def setting(env: str, default: Any = None, parse: Parser = text, *, factory: Callable[[], Any] | None = None) -> Any:
    """Declare a field read from environment variable `env` with `parse`."""
    meta = {"env": env, "parse": parse}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    # Twilio and the web service
    twilio_account_sid: str = setting("TWILIO_ACCOUNT_SID", "")
    twilio_auth_token: str = setting("TWILIO_AUTH_TOKEN", "")
    secret_key: str = setting("SECRET_KEY", "")
    database_url: str = setting("DATABASE_URL", "")
    public_base_url: str = setting("PUBLIC_BASE_URL", "", url)
    validate_twilio_signature: bool = setting("TWILIO_VALIDATE_SIGNATURE", True, boolean)
    twilio_api_base: str = setting("TWILIO_API_BASE", "https://api.twilio.com", url)
    # How many reverse proxies in front of us may be trusted for X-Forwarded-* (0: trust none).
    trusted_proxies: int = setting("IVR_TRUSTED_PROXIES", 0, whole(0, 5))
    instance_path: Path = setting("IVR_INSTANCE_PATH", parse=path, factory=lambda: PROJECT_ROOT / "instance")
    kb_path: Path = setting("IVR_KB_PATH", parse=path, factory=lambda: PROJECT_ROOT / "kb_data")
    prompts_path: Path = setting("IVR_PROMPTS_PATH", parse=path, factory=lambda: PROJECT_ROOT / "prompts")
    business_name: str = setting("IVR_BUSINESS_NAME", "Northwind Goods")
    run_worker: bool = setting("IVR_RUN_WORKER", True, boolean)
    log_level: str = setting("LOG_LEVEL", "INFO", one_of("debug", "info", "warning", "error"))
    # Longest a webhook waits for a database lock before answering from what it has.
    db_lock_timeout: float = setting("IVR_DB_LOCK_TIMEOUT", 3.0, number(0.1, 10))

    # Reliability and scale-out: job leases, voicemail reconciliation, shared recordings.
    # A dead worker's job is taken again after its lease lapses.
    job_lease_seconds: int = setting("IVR_JOB_LEASE_SECONDS", 60, whole(5, 3600))
    # How often to ask Twilio for recordings we have no ticket for (0 = off), and how far back.
    reconcile_interval_seconds: int = setting("IVR_RECONCILE_SECONDS", 600, whole(0, 7 * 86400))
    reconcile_lookback_hours: int = setting("IVR_RECONCILE_LOOKBACK_HOURS", 48, whole(1, 24 * 90))
    # Where our copies of recordings live: a local folder, or the database (every host can read it).
    recordings_storage: str = setting("IVR_RECORDINGS_STORAGE", "folder", one_of("folder", "database"))

    # The call
    say_voice: str = setting("IVR_SAY_VOICE", "Polly.Joanna")
    say_language: str = setting("IVR_LANGUAGE", "en-US")
    max_message_seconds: int = setting("IVR_MAX_MESSAGE_SECONDS", 120, whole(10, 3600))

    # Speech recognition
    speech: str = setting("IVR_SPEECH", "auto", one_of("auto", "twilio"))
    vosk_model_path: str = setting("VOSK_MODEL_PATH", "")
    recording_fetch_seconds: float = setting("IVR_RECORDING_FETCH_SECONDS", 8.0, number(0.1, 14))
    recording_job_fetch_seconds: float = setting("IVR_RECORDING_JOB_FETCH_SECONDS", 30.0, number(0.1, 600))

    # Recordings
    recordings_path: Path | None = setting("IVR_RECORDINGS_PATH", None, optional_path)
    delete_at_twilio: bool = setting("IVR_DELETE_AT_TWILIO", False, boolean)
    recording_retention_days: int = setting("IVR_RECORDING_RETENTION_DAYS", 0, whole(0, 36500))

    # Our own voice
    tts_enabled: bool = setting("IVR_TTS", True, boolean)
    tts_cache: Path | None = setting("IVR_TTS_CACHE", None, optional_path)
    tts_voice: str = setting("IVR_TTS_VOICE", "gmw/en-us")
    # espeak (pyttsx3/espeak-ng, every language) or piper (a neural voice where one is installed for the
    # line's language; espeak-ng otherwise and whenever Piper fails).
    tts_engine: str = setting("IVR_TTS_ENGINE", "espeak", one_of("espeak", "piper"))
    tts_piper_voice: Path | None = setting("IVR_TTS_PIPER_VOICE", None, optional_path)
    tts_rate: int = setting("IVR_TTS_RATE", 165, whole(60, 450))
    tts_volume: float = setting("IVR_TTS_VOLUME", 1.0, number(0, 1))
    tts_timeout: float = setting("IVR_TTS_TIMEOUT", 20.0, number(1, 600))
    # A call-specific sentence (order status, reference) not rendered within this is spoken with <Say>.
    tts_budget_seconds: float = setting("IVR_TTS_BUDGET_SECONDS", 0.8, number(0, 5))

    # Knowledge base
    kb_embedding_model: Path | None = setting("KB_EMBEDDING_MODEL", None, optional_path)

    # Staff dashboard, insights and the public help page
    # The IANA zone the business works in: dashboard times and insights' days and hours.
    timezone: str = setting("IVR_TIMEZONE", "UTC", zone)
    # Wrong passwords per account / per address within the window before logins are refused (429).
    login_max_failures: int = setting("IVR_LOGIN_MAX_FAILURES", 5, whole(1, 1000))
    login_max_failures_per_address: int = setting("IVR_LOGIN_MAX_FAILURES_PER_ADDRESS", 30, whole(1, 100000))
    login_window_seconds: int = setting("IVR_LOGIN_WINDOW_SECONDS", 900, whole(1, 86400))
    # "Send us a message" forms accepted per address per hour, and the least time to fill one in.
    web_messages_per_hour: int = setting("IVR_WEB_MESSAGES_PER_HOUR", 5, whole(1, 10000))
    web_message_min_seconds: int = setting("IVR_WEB_MESSAGE_MIN_SECONDS", 3, whole(0, 600))

    # Notifications
    notify_emails: tuple[str, ...] = setting("IVR_NOTIFY_EMAILS", (), emails)
    smtp_host: str = setting("IVR_SMTP_HOST", "")
    smtp_port: int = setting("IVR_SMTP_PORT", 587, whole(1, 65535))
    smtp_user: str = setting("IVR_SMTP_USER", "")
    smtp_password: str = setting("IVR_SMTP_PASSWORD", "")
    smtp_from: str = setting("IVR_SMTP_FROM", "ivr@localhost")
    smtp_tls: bool = setting("IVR_SMTP_TLS", True, boolean)
    notify_webhook_url: str = setting("IVR_NOTIFY_WEBHOOK_URL", "", url)

    # --- call flow: a person in business hours, ratings (flow) ---
    # Where "talk to someone" rings: E.164 numbers or sip: addresses, and nothing else, ever.
    transfer_to: tuple[str, ...] = setting("IVR_TRANSFER_TO", (), destinations)
    transfer_ring: str = setting("IVR_TRANSFER_RING", "sequential", one_of("sequential", "simultaneous"))
    # Seconds each destination rings (sequential), or all of them together (simultaneous).
    transfer_timeout_seconds: int = setting("IVR_TRANSFER_TIMEOUT", 20, whole(5, 120))
    # Ask callers whose question was answered for a 1-5 keypad rating before goodbye.
    ratings_enabled: bool = setting("IVR_RATINGS", False, boolean)
    # --- hours, SMS and orders (desk) ---
    # Opening hours, holidays and closures; default kb_path/hours.yaml (see the hours_path property).
    hours_file: Path | None = setting("IVR_HOURS_PATH", None, optional_path)
    sms_enabled: bool = setting("IVR_SMS", True, boolean)
    # A Twilio number (E.164) or Messaging Service sid (MG...); default: the number the caller called.
    sms_from: str = setting("IVR_SMS_FROM", "", sms_sender)
    # Read orders from the shop's own database (a SQLAlchemy URL and one SELECT with :number).
    orders_sql_url: str = setting("IVR_ORDERS_SQL_URL", "")
    orders_sql_query: str = setting("IVR_ORDERS_SQL_QUERY", "")
    orders_sql_timeout: int = setting("IVR_ORDERS_SQL_TIMEOUT", 3, whole(1, 30))

    # BLAS threads per process for the embedding's matrix products. A web process already runs many
    # requests at once; more BLAS threads only fight over the cores (measured: p99 x3 with 2 processes).
    blas_threads: int = setting("IVR_BLAS_THREADS", 1, whole(1, 64))

    # --- Media Streams (stream): real-time calls over Twilio's bidirectional stream ---
    # Answer with <Connect><Stream> when a Vosk model serves the call's language (and the server speaks WebSockets).
    stream_enabled: bool = setting("IVR_STREAM", True, boolean)
    # Trailing silence that ends a caller's utterance.
    stream_end_silence_ms: int = setting("IVR_STREAM_END_SILENCE_MS", 600, whole(200, 3000))
    # WebRTC VAD aggressiveness, 0 (lenient) .. 3 (strict about what counts as speech).
    stream_vad_mode: int = setting("IVR_STREAM_VAD_MODE", 2, whole(0, 3))
    # Voiced audio (in 200 ms) that counts as the caller speaking: starts an utterance, barges in.
    stream_barge_in_ms: int = setting("IVR_STREAM_BARGE_IN_MS", 100, whole(20, 200))
    # Speech recognisers readied at start-up (a new one's first utterance decodes slowly; ~15 MB each).
    speech_warm_recognizers: int = setting("IVR_SPEECH_WARM_RECOGNIZERS", 4, whole(0, 64))

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_path / 'ivr.db'}"

    @property
    def hours_path(self) -> Path:
        return self.hours_file or self.kb_path / "hours.yaml"

    @property
    def tts_cache_path(self) -> Path:
        return self.tts_cache or self.instance_path / "tts"

    @property
    def recordings_root(self) -> Path:
        return self.recordings_path or self.instance_path / "recordings"


ENV_NAMES = {f.metadata["env"]: f.name for f in fields(Settings) if "env" in f.metadata}


def _read_environment() -> dict[str, str]:
    from dotenv import dotenv_values

    dotenv_file = Path(os.environ.get("IVR_ENV_FILE") or PROJECT_ROOT / ".env")
    file_values = {k: v for k, v in dotenv_values(dotenv_file).items() if v is not None}
    return {**file_values, **os.environ}


def parse_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """Typed values for every setting present (and non-empty) in `env`."""
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = f.metadata.get("env")
        raw = env.get(name) if name else None
        if raw is None or raw.strip() == "":
            continue
        values[f.name] = f.metadata["parse"](name, raw)
    return values


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and check settings.

    `overrides` (used by tests) win over the environment: typed field values by field name, and
    `extra`, a mapping of environment-style variables parsed exactly as the environment is.
    """
    if env is None:
        env = _read_environment()
    env_style = dict(overrides.pop("extra", None) or {})
    unknown_env = [k for k in env_style if k not in ENV_NAMES]
    if unknown_env:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown_env))}")
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values = {**parse_environment(env), **parse_environment(env_style), **overrides}
    if isinstance(values.get("log_level"), str):
        values["log_level"] = values["log_level"].upper()
    settings = replace(Settings(), **values)
    check_settings(settings)
    return settings


def check_settings(settings: Settings) -> None:
    """Raise ConfigError naming the first bad setting."""
    if not settings.twilio_account_sid:
        raise ConfigError("TWILIO_ACCOUNT_SID is not set (find it in the Twilio console; starts with AC)")
    if not _SID_RE.match(settings.twilio_account_sid):
        raise ConfigError("TWILIO_ACCOUNT_SID is malformed: expected AC followed by 32 hex characters")
    if settings.validate_twilio_signature:
        if not settings.twilio_auth_token:
            raise ConfigError("TWILIO_AUTH_TOKEN is not set (needed to check Twilio's request signatures)")
        if not _TOKEN_RE.match(settings.twilio_auth_token):
            raise ConfigError("TWILIO_AUTH_TOKEN is malformed: expected 32 hex characters")
    if not settings.secret_key:
        raise ConfigError("SECRET_KEY is not set (any long random string; "
                          "e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
    if len(settings.secret_key) < 16:
        raise ConfigError("SECRET_KEY is too short: use at least 16 random characters")
    if settings.database_url and "://" not in settings.database_url:
        raise ConfigError("DATABASE_URL is malformed: expected a URL such as sqlite:///path.db or "
                          f"postgresql://..., got {settings.database_url!r}")
    if settings.recordings_storage not in {"folder", "database"}:
        raise ConfigError(f"IVR_RECORDINGS_STORAGE must be folder or database, got {settings.recordings_storage!r}")
    if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
    for destination in settings.transfer_to:
        if not is_dial_destination(destination):
            raise ConfigError(f"IVR_TRANSFER_TO must list E.164 numbers or sip: addresses, got {destination!r}")
    _check_desk_settings(settings)
    if settings.notify_emails and not settings.smtp_host:
        raise ConfigError("IVR_NOTIFY_EMAILS is set but IVR_SMTP_HOST is not: mail can't be sent")


def _check_desk_settings(settings: Settings) -> None:
    """Orders from the shop's own database (desk): both settings, one SELECT, the :number parameter."""
    if bool(settings.orders_sql_url) != bool(settings.orders_sql_query):
        raise ConfigError("IVR_ORDERS_SQL_URL and IVR_ORDERS_SQL_QUERY go together: set both or neither")
    if settings.orders_sql_url and "://" not in settings.orders_sql_url:
        raise ConfigError("IVR_ORDERS_SQL_URL must be a SQLAlchemy URL such as postgresql+psycopg://reader@db/shop")
    if settings.orders_sql_query:
        query = settings.orders_sql_query
        if not re.match(r"^\s*(select|with)\b", query, re.I) or ";" in query.strip().rstrip(";"):
            raise ConfigError("IVR_ORDERS_SQL_QUERY must be one SELECT statement")
        if ":number" not in query:
            raise ConfigError("IVR_ORDERS_SQL_QUERY must use the bound parameter :number for the order number")
