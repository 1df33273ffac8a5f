"""Settings come from the environment (and an optional `.env`), checked once at start.

A bad setting must stop the service with one line naming it, not surface later as a 500
in the middle of a call.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
_TOKEN_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# Settings read by individual areas (besides every IVR_* variable).
EXTRA_SETTINGS = {"VOSK_MODEL_PATH", "KB_EMBEDDING_MODEL"}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    secret_key: str = ""
    database_url: str = ""
    public_base_url: str = ""
    validate_twilio_signature: bool = True
    twilio_api_base: str = "https://api.twilio.com"
    instance_path: Path = field(default_factory=lambda: PROJECT_ROOT / "instance")
    kb_path: Path = field(default_factory=lambda: PROJECT_ROOT / "kb_data")
    prompts_path: Path = field(default_factory=lambda: PROJECT_ROOT / "prompts")
    say_voice: str = "Polly.Joanna"
    say_language: str = "en-US"
    max_message_seconds: int = 120
    business_name: str = "Northwind Goods"
    run_worker: bool = True
    log_level: str = "INFO"
    # --- hours, SMS and orders (desk) ---
    hours_path: Path = field(default_factory=lambda: PROJECT_ROOT / "kb_data" / "hours.yaml")
    sms_enabled: bool = True
    sms_from: str = ""  # a Twilio number (E.164) or Messaging Service sid (MG...); default: the number called
    orders_sql_url: str = ""  # read orders from the shop's own database instead of the orders table
    orders_sql_query: str = ""
    orders_sql_timeout: int = 3
    # --- call flow: a person in business hours, ratings (flow) ---
    # Where "talk to someone" rings: E.164 numbers or sip: addresses, and nothing else ever.
    transfer_to: tuple[str, ...] = ()
    transfer_ring: str = "sequential"  # sequential (in order) | simultaneous (all at once)
    transfer_timeout_seconds: int = 20  # per destination (sequential) or for all (simultaneous)
    ratings_enabled: bool = False  # ask callers whose question was answered for a 1-5 rating
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_path / 'ivr.db'}"


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _env_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not re.match(r"^https?://[^/\s]+", raw):
        raise ConfigError(f"{name} must be an http(s) URL such as https://ivr.example.com, got {raw!r}")
    return raw.rstrip("/")


# --- call flow (flow) ---
_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_SIP_RE = re.compile(r"^sips?:[A-Za-z0-9._~+\-]+@[A-Za-z0-9.\-]+(:\d{1,5})?$")


def is_dial_destination(value: str) -> bool:
    """An E.164 number (+15551234567) or a SIP address (sip:desk@pbx.example.com)."""
    return bool(_E164_RE.match(value) or _SIP_RE.match(value))


def _env_destinations(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = (env.get(name) or "").strip()
    if not raw:
        return ()
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    for item in items:
        if not is_dial_destination(item):
            raise ConfigError(f"{name} must list E.164 numbers (+15551234567) or sip: addresses, got {item!r}")
    return items


def _env_choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and check settings; `overrides` (used by tests) win over the environment."""
    if env is None:
        from dotenv import dotenv_values

        dotenv_file = Path(os.environ.get("IVR_ENV_FILE", PROJECT_ROOT / ".env"))
        file_values = {k: v for k, v in dotenv_values(dotenv_file).items() if v is not None}
        env = {**file_values, **os.environ}

    validate = _env_bool(env, "TWILIO_VALIDATE_SIGNATURE", True)
    sid = (env.get("TWILIO_ACCOUNT_SID") or "").strip()
    token = (env.get("TWILIO_AUTH_TOKEN") or "").strip()
    instance = Path(env.get("IVR_INSTANCE_PATH") or PROJECT_ROOT / "instance")
    settings = Settings(
        twilio_account_sid=sid,
        twilio_auth_token=token,
        secret_key=(env.get("SECRET_KEY") or "").strip(),
        database_url=(env.get("DATABASE_URL") or "").strip(),
        public_base_url=_env_url(env, "PUBLIC_BASE_URL", ""),
        validate_twilio_signature=validate,
        twilio_api_base=_env_url(env, "TWILIO_API_BASE", "https://api.twilio.com"),
        instance_path=instance,
        kb_path=Path(env.get("IVR_KB_PATH") or PROJECT_ROOT / "kb_data"),
        prompts_path=Path(env.get("IVR_PROMPTS_PATH") or PROJECT_ROOT / "prompts"),
        say_voice=(env.get("IVR_SAY_VOICE") or "Polly.Joanna").strip(),
        say_language=(env.get("IVR_LANGUAGE") or "en-US").strip(),
        max_message_seconds=_env_int(env, "IVR_MAX_MESSAGE_SECONDS", 120, 10, 3600),
        business_name=(env.get("IVR_BUSINESS_NAME") or "Northwind Goods").strip(),
        run_worker=_env_bool(env, "IVR_RUN_WORKER", True),
        log_level=(env.get("LOG_LEVEL") or "INFO").strip().upper(),
        # --- hours, SMS and orders (desk) ---
        hours_path=Path(env.get("IVR_HOURS_PATH") or Path(env.get("IVR_KB_PATH") or PROJECT_ROOT / "kb_data") / "hours.yaml"),
        sms_enabled=_env_bool(env, "IVR_SMS", True),
        sms_from=(env.get("IVR_SMS_FROM") or "").strip(),
        orders_sql_url=(env.get("IVR_ORDERS_SQL_URL") or "").strip(),
        orders_sql_query=(env.get("IVR_ORDERS_SQL_QUERY") or "").strip(),
        orders_sql_timeout=_env_int(env, "IVR_ORDERS_SQL_TIMEOUT", 3, 1, 30),
        # --- call flow (flow) ---
        transfer_to=_env_destinations(env, "IVR_TRANSFER_TO"),
        transfer_ring=_env_choice(env, "IVR_TRANSFER_RING", "sequential", ("sequential", "simultaneous")),
        transfer_timeout_seconds=_env_int(env, "IVR_TRANSFER_TIMEOUT", 20, 5, 120),
        ratings_enabled=_env_bool(env, "IVR_RATINGS", False),
        extra={k: v for k, v in env.items() if k.startswith("IVR_") or k in EXTRA_SETTINGS},
    )
    if overrides:
        known = {f.name for f in fields(Settings)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = replace(settings, **overrides)
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
        raise ConfigError("SECRET_KEY is not set (any long random string; e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
    if len(settings.secret_key) < 16:
        raise ConfigError("SECRET_KEY is too short: use at least 16 random characters")
    if settings.database_url and "://" not in settings.database_url:
        raise ConfigError(f"DATABASE_URL is malformed: expected a URL such as sqlite:///path.db or postgresql://..., got {settings.database_url!r}")
    _check_desk_settings(settings)
    for destination in settings.transfer_to:
        if not is_dial_destination(destination):
            raise ConfigError(f"IVR_TRANSFER_TO must list E.164 numbers or sip: addresses, got {destination!r}")
    if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")


def _check_desk_settings(settings: Settings) -> None:
    """Hours, SMS and orders settings (desk)."""
    if settings.sms_from and not re.match(r"^(\+[1-9][0-9]{6,14}|MG[0-9a-fA-F]{32})$", settings.sms_from):
        raise ConfigError("IVR_SMS_FROM must be a Twilio number in E.164 form (+15551234567) or a "
                          f"Messaging Service sid (MG...), got {settings.sms_from!r}")
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
