"""`models download|list` and `transcribe FILE.wav`: speech models and offline transcription."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import load_settings
from ..speech.audio import AudioError
from ..speech.engine import ModelError, SpeechEngine, model_path_for, model_paths
from ..speech.models import MODEL_LIST_URL, DownloadError, download_model
from . import AreaGroup, CLIError


@click.group(cls=AreaGroup, help="speech models (Vosk)")
def models() -> None:
    pass


def _settings():
    return load_settings()


@models.command("download", help="download an official Vosk model (checked and unpacked safely)")
@click.argument("language", default="en", required=False)
@click.option("--name", help="any official model name, e.g. vosk-model-en-us-0.22")
@click.option("--list-url", default=None, help="model list URL (default: the Vosk site's)")
@click.option("--base-url", default=None, help="fetch archives from this mirror instead")
def cmd_download(language: str, name: str | None, list_url: str | None, base_url: str | None) -> int:
    settings = _settings()
    try:
        path = download_model(Path(settings.instance_path) / "models", language=language, name=name,
                              list_url=list_url or MODEL_LIST_URL, base_url=base_url)
    except DownloadError as exc:
        raise CLIError(str(exc)) from None
    print(f"model installed in {path}")
    return 0


@models.command("list", help="installed models by language")
@click.option("--json", "as_json", is_flag=True)
def cmd_list(as_json: bool) -> int:
    found = {k: str(v) for k, v in model_paths(_settings()).items()}
    if as_json:
        print(json.dumps(found, indent=2))
    elif not found:
        print("no speech models installed (python -m ivr models download en)")
    for lang, path in found.items():
        print(f"{lang:<8} {path}")
    return 0


@click.command("transcribe", help="transcribe a WAV file with Vosk")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--model", type=click.Path(path_type=Path), help="model folder (default: the configured one)")
@click.option("--language", default="en")
@click.option("--json", "as_json", is_flag=True, help="with confidences and timing")
def transcribe(file: Path, model: Path | None, language: str, as_json: bool) -> int:
    try:
        audio = file.read_bytes()
    except OSError as exc:
        raise CLIError(f"{file}: cannot read ({exc.strerror})") from None
    if model is None:
        model = model_path_for(_settings(), language)
        if model is None:
            raise CLIError(f"no speech model for {language!r}: pass --model or run "
                           f"`python -m ivr models download {language}`")
    try:
        engine = SpeechEngine(model)
        transcript = engine.transcribe(audio)
    except (ModelError, AudioError) as exc:
        raise CLIError(f"{file if isinstance(exc, AudioError) else model}: {exc}") from None
    if as_json:
        print(json.dumps({**transcript.as_dict(), "model": str(model),
                          "model_load_seconds": round(engine.load_seconds, 3)}, ensure_ascii=False, indent=2))
    else:
        print(transcript.text)
    return 0
