"""`models download|list` and `transcribe FILE.wav`: speech models and offline transcription."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import CLIError


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("models", help="speech models (Vosk)")
    msub = m.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    dl = msub.add_parser("download", help="download an official Vosk model (checked and unpacked safely)")
    dl.add_argument("language", nargs="?", default="en", help="language code (default en)")
    dl.add_argument("--name", help="any official model name, e.g. vosk-model-en-us-0.22")
    dl.add_argument("--list-url", default=None, help="model list URL (default: the Vosk site's)")
    dl.add_argument("--base-url", default=None, help="fetch archives from this mirror instead")
    dl.set_defaults(func=cmd_download)
    ls = msub.add_parser("list", help="installed models by language")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    t = sub.add_parser("transcribe", help="transcribe a WAV file with Vosk")
    t.add_argument("file", type=Path)
    t.add_argument("--model", type=Path, help="model folder (default: the configured one)")
    t.add_argument("--language", default="en")
    t.add_argument("--json", action="store_true", help="with confidences and timing")
    t.set_defaults(func=cmd_transcribe)


def _settings():
    from ..config import load_settings

    return load_settings()


def cmd_download(args: argparse.Namespace) -> int:
    from ..speech.models import MODEL_LIST_URL, DownloadError, download_model

    settings = _settings()
    try:
        path = download_model(Path(settings.instance_path) / "models", language=args.language, name=args.name,
                              list_url=args.list_url or MODEL_LIST_URL, base_url=args.base_url)
    except DownloadError as exc:
        raise CLIError(str(exc)) from None
    print(f"model installed in {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..speech.engine import model_paths

    found = {k: str(v) for k, v in model_paths(_settings()).items()}
    if args.json:
        print(json.dumps(found, indent=2))
    elif not found:
        print("no speech models installed (python -m ivr models download en)")
    for lang, path in found.items():
        print(f"{lang:<8} {path}")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from ..speech.audio import AudioError
    from ..speech.engine import ModelError, SpeechEngine, model_path_for

    try:
        audio = args.file.read_bytes()
    except OSError as exc:
        raise CLIError(f"{args.file}: cannot read ({exc.strerror})") from None
    model = args.model
    if model is None:
        model = model_path_for(_settings(), args.language)
        if model is None:
            raise CLIError(f"no speech model for {args.language!r}: pass --model or run `python -m ivr models download {args.language}`")
    try:
        engine = SpeechEngine(model)
        transcript = engine.transcribe(audio)
    except (ModelError, AudioError) as exc:
        raise CLIError(f"{args.file if isinstance(exc, AudioError) else model}: {exc}") from None
    if args.json:
        print(json.dumps({**transcript.as_dict(), "model": str(model),
                          "model_load_seconds": round(engine.load_seconds, 3)}, ensure_ascii=False, indent=2))
    else:
        print(transcript.text)
    return 0
