"""`prompts render` (all audio ahead of calls) and `prompts check` (catalogue vs code)."""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import click

from . import AreaGroup, CLIError
from ..services import services
from ..config import load_settings
from ..prompts import PromptCatalogue, PromptError
from ..tts.service import texts_to_render
from .context import load_app

MAX_PROMPT_WORDS = 25  # about ten seconds: one sentence or two a caller can hold in mind on the phone
CODE_ROOT = Path(__file__).resolve().parent.parent


@click.group(cls=AreaGroup, help="render prompt audio, check the catalogue")
def prompts() -> None:
    pass


def ids_used_in_code(root: Path = CODE_ROOT) -> tuple[set[str], set[str]]:
    """Prompt ids passed as literals to `t(...)` / `.text(...)`, and f-string id prefixes like 'order_status_'."""
    used, prefixes = set(), set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                is_prompt_call = (isinstance(func, ast.Name) and func.id == "t") or (
                    isinstance(func, ast.Attribute) and func.attr in {"t", "text"})
                if is_prompt_call:
                    # The id, or each id of a conditional such as t("a" if x else "b").
                    used.update(n.value for n in ast.walk(node.args[0])
                                if isinstance(n, ast.Constant) and isinstance(n.value, str))
            if isinstance(node, ast.Call):
                # A menu choice names the line that offers it: Choice(..., line="choice_ask").
                used.update(kw.value.value for kw in node.keywords
                            if kw.arg in ("line", "lead") and isinstance(kw.value, ast.Constant)
                            and isinstance(kw.value.value, str) and kw.value.value)
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                    and any(isinstance(t, ast.Name) and t.id.endswith("_LINES") for t in node.targets)):
                # A table of lines by meaning (menus.SHARED_LINES): its values are prompt ids.
                used.update(v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                if head.endswith("_") and head.replace("_", "").isalpha():
                    prefixes.add(head)
    return used, prefixes


def check_catalogue(catalogue) -> dict[str, list[str]]:
    used, prefixes = ids_used_in_code()
    ids = set(catalogue.prompts)
    return {
        "missing": sorted(used - ids),
        "unused": sorted(i for i in ids - used if not any(i.startswith(p) for p in prefixes)),
        "too_long": sorted(i for i, p in catalogue.prompts.items() if len(p.text.split()) > MAX_PROMPT_WORDS),
    }


@prompts.command("check", help="ids used in code but missing, unused ids, prompts too long")
@click.option("--json", "as_json", is_flag=True)
def cmd_check(as_json: bool) -> int:
    try:
        catalogue = PromptCatalogue.load(load_settings().prompts_path)
    except PromptError as exc:
        raise CLIError(str(exc)) from None
    report = check_catalogue(catalogue)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{len(catalogue.prompts)} prompts in {catalogue.path}")
        for kind, label in (("missing", "used in code but missing from the catalogue"),
                            ("unused", "in the catalogue but never used"),
                            ("too_long", f"longer than {MAX_PROMPT_WORDS} words")):
            for pid in report[kind]:
                print(f"  {label}: {pid}")
        if not any(report.values()):
            print("  all good")
    return 1 if any(report.values()) else 0


@prompts.command("render", help="render every prompt and knowledge-base answer not yet rendered")
@click.option("--json", "as_json", is_flag=True)
def cmd_render(as_json: bool) -> int:
    app = load_app()
    service = services(app).tts
    texts = list(dict.fromkeys(texts_to_render(app)))
    total = {"rendered": 0, "cached": 0, "failed": 0, "seconds": 0.0, "audio_seconds": 0.0}
    failures: list[str] = []
    batch = 25
    for start in range(0, len(texts), batch):
        result = service.render(texts[start:start + batch])
        total["rendered"] += result.rendered
        total["cached"] += result.cached
        total["failed"] += len(result.failed)
        total["seconds"] += result.seconds
        total["audio_seconds"] += result.audio_seconds
        failures += [f"{t[:50]!r}: {e}" for t, e in result.failed]
        if not as_json:
            print(f"\r{min(start + batch, len(texts))}/{len(texts)} texts", end="", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps({**total, "seconds": round(total["seconds"], 2),
                          "audio_seconds": round(total["audio_seconds"], 1), "errors": failures[:20]}))
    else:
        print(file=sys.stderr)
        print(f"{total['rendered']} rendered ({total['audio_seconds']:.0f}s of audio in {total['seconds']:.1f}s), "
              f"{total['cached']} already cached, {total['failed']} failed")
        for line in failures[:20]:
            print(f"  failed {line}")
    if total["failed"]:
        raise CLIError(f"{total['failed']} text(s) could not be rendered; the service will use <Say> for them")
    return 0
