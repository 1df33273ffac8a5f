"""The prompt catalogue: every word the caller hears, by id, kept in `prompts/` and not in code."""
from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# libyaml's safe loader where PyYAML was built with it (4x faster on the catalogue), else the pure-Python one.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CATALOGUE_FILE = "catalogue.yaml"


class PromptError(Exception):
    """The catalogue is unreadable, or code asked for an id or placeholder it lacks."""


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    note: str = ""

    @property
    def placeholders(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.text) if name}


class PromptCatalogue:
    """Prompt texts by id; `text(id, **values)` fills `{placeholders}`."""

    def __init__(self, prompts: Mapping[str, Prompt], path: Path | None = None):
        self.prompts = dict(prompts)
        self.path = path

    @classmethod
    def load(cls, directory: Path) -> PromptCatalogue:
        path = Path(directory) / CATALOGUE_FILE
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        except FileNotFoundError:
            raise PromptError(f"{path}: prompt catalogue not found") from None
        except yaml.YAMLError as exc:
            raise PromptError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("prompts"), dict):
            raise PromptError(f"{path}: expected a mapping with a 'prompts' key")
        prompts: dict[str, Prompt] = {}
        for pid, entry in raw["prompts"].items():
            if isinstance(entry, str):
                entry = {"text": entry}
            if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
                raise PromptError(f"{path}: prompt {pid!r} needs a non-empty 'text'")
            prompts[str(pid)] = Prompt(id=str(pid), text=" ".join(entry["text"].split()),
                                       note=str(entry.get("note", "")))
        return cls(prompts, path)

    def __contains__(self, pid: str) -> bool:
        return pid in self.prompts

    def text(self, pid: str, **values: Any) -> str:
        try:
            prompt = self.prompts[pid]
        except KeyError:
            raise PromptError(f"prompt id {pid!r} is not in the catalogue") from None
        try:
            return prompt.text.format(**values)
        except KeyError as exc:
            raise PromptError(f"prompt {pid!r} needs a value for {exc.args[0]!r}") from None
