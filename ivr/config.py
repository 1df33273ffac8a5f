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
    # --- Media Streams (ivr/stream): real-time calls over Twilio's bidirectional stream.
    stream_enabled: bool = True  # IVR_STREAM: answer with <Connect><Stream> when a Vosk model serves the language
    stream_end_silence_ms: int = 700  # IVR_STREAM_END_SILENCE_MS: trailing silence that ends an utterance
    stream_vad_mode: int = 2  # IVR_STREAM_VAD_MODE: WebRTC VAD aggressiveness 0 (lenient) .. 3 (strict)
    stream_barge_in_ms: int = 100  # IVR_STREAM_BARGE_IN_MS: voiced audio that counts as the caller speaking
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
        # --- Media Streams (ivr/stream)
        stream_enabled=_env_bool(env, "IVR_STREAM", True),
        stream_end_silence_ms=_env_int(env, "IVR_STREAM_END_SILENCE_MS", 700, 200, 3000),
        stream_vad_mode=_env_int(env, "IVR_STREAM_VAD_MODE", 2, 0, 3),
        stream_barge_in_ms=_env_int(env, "IVR_STREAM_BARGE_IN_MS", 100, 20, 1000),
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
    if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
