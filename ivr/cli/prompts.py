"""`prompts render` (all audio ahead of calls) and `prompts check` (catalogue vs code)."""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import click

from ..config import load_settings
from ..prompts import PromptCatalogue, PromptError
from ..services import services
from ..tts.service import texts_to_render
from . import AreaGroup, CLIError
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
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "lead"
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                # A field's default line (Menu.lead = "menu_press"): used by every menu that keeps it.
                used.add(node.value.value)
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                    and any(isinstance(t, ast.Name) and t.id.endswith("_LINES") for t in node.targets)):
                # A table of lines by meaning (menus.SHARED_LINES): its values are prompt ids.
                used.update(v.value for v in node.value.values
                            if isinstance(v, ast.Constant) and isinstance(v.value, str))
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


def measure_menus(settings) -> tuple[list[dict], str]:
    """Every menu's words as a call hears them, rendered with our real renderer (into the usual TTS
    cache, so a second check renders nothing), against its budget. Runs on a scratch database with
    the knowledge base loaded from settings.kb_path. Returns the rows and why nothing was measured."""
    import tempfile
    from dataclasses import replace as replace_settings

    from .. import create_app
    from ..db import session_scope
    from ..flow.context import CallContext
    from ..flow.menus import FIRST_TURN_BUDGET_SECONDS, MENU_BUDGET_SECONDS, MENU_BUDGETS, menu_says, shared_keys_line
    from ..flow.states import menu_variants
    from ..kb.loader import load_knowledge_base
    from ..speech.audio import read_wav
    from .db import upgrade_database

    with tempfile.TemporaryDirectory(prefix="ivr-prompts-check-") as tmp:
        scratch = replace_settings(settings, database_url=f"sqlite:///{tmp}/check.db", run_worker=False,
                                   tts_cache=settings.tts_cache_path)
        upgrade_database(scratch)
        app = create_app(scratch)
        tts = services(app).tts
        try:
            with app.app_context():
                with session_scope(services(app).sessionmaker) as session:
                    load_knowledge_base(session, settings.kb_path)
                session = services(app).sessionmaker()
                ctx = CallContext(app=app, session=session, call_sid="CA" + "0" * 32, caller="+15550000000")
                measured: list[tuple[str, str, list[str], float]] = []
                for name, variant, built in menu_variants(ctx):
                    measured.append((name, variant, menu_says(ctx, name, built),
                                     MENU_BUDGETS.get(name, MENU_BUDGET_SECONDS) if variant != "brief"
                                     else MENU_BUDGET_SECONDS))
                greeting = ctx.t("greeting", business=settings.business_name)
                for variant in ("person", "no person"):
                    menu = next(m for n, v, m in menu_variants(ctx) if n == "main" and v == variant)
                    measured.append(("first turn", variant, [greeting, *menu_says(ctx, "main", menu),
                                                              shared_keys_line(ctx)], FIRST_TURN_BUDGET_SECONDS))
                session.close()
            texts = list(dict.fromkeys(t for _, _, lines, _ in measured for t in lines))
            result = tts.render(texts)
            if result.failed:
                return [], f"could not render {len(result.failed)} line(s): {result.failed[0][1]}"
            rows = []
            for name, variant, lines, budget in measured:
                seconds = sum(read_wav(tts.cached_path(t).read_bytes()).seconds for t in lines)
                rows.append({"menu": name, "variant": variant, "seconds": round(seconds, 1), "budget": budget,
                             "over": seconds > budget})
            return rows, ""
        finally:
            tts.close()
            services(app).engine.dispose()


@prompts.command("check", help="ids used in code but missing, unused ids, prompts too long, menus over budget")
@click.option("--json", "as_json", is_flag=True)
@click.option("--budgets/--no-budgets", default=True, show_default=True,
              help="render every menu with our voice and measure it against its budget")
def cmd_check(as_json: bool, budgets: bool) -> int:
    settings = load_settings()
    try:
        catalogue = PromptCatalogue.load(settings.prompts_path)
    except PromptError as exc:
        raise CLIError(str(exc)) from None
    report = check_catalogue(catalogue)
    unmeasured = ""
    if budgets and not report["missing"]:
        rows, unmeasured = measure_menus(settings)
        report["over_budget"] = [f"{r['menu']}{' (' + r['variant'] + ')' if r['variant'] else ''}: "
                                 f"{r['seconds']:.1f}s > {r['budget']:.0f}s" for r in rows if r["over"]]
        report["menus"] = rows
    failing = {k: v for k, v in report.items() if k != "menus" and v}
    if as_json:
        print(json.dumps({**report, **({"budgets_not_measured": unmeasured} if unmeasured else {})}, indent=2))
    else:
        print(f"{len(catalogue.prompts)} prompts in {catalogue.path}")
        for kind, label in (("missing", "used in code but missing from the catalogue"),
                            ("unused", "in the catalogue but never used"),
                            ("too_long", f"longer than {MAX_PROMPT_WORDS} words"),
                            ("over_budget", "menu over its budget")):
            for pid in report.get(kind, []):
                print(f"  {label}: {pid}")
        if report.get("menus"):
            worst = max(report["menus"], key=lambda r: r["seconds"] / r["budget"])
            variant = f" ({worst['variant']})" if worst["variant"] else ""
            print(f"  {len(report['menus'])} menus measured on rendered audio; closest to its budget: "
                  f"{worst['menu']}{variant}, {worst['seconds']:.1f}s of {worst['budget']:.0f}s")
        if unmeasured:
            print(f"  menu budgets not measured: {unmeasured}")
        if not failing:
            print("  all good")
    return 1 if failing else 0


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
