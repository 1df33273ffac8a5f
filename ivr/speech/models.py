"""Download official Vosk models: look the model up in the official list, check its size and
MD5, unpack it without letting any archive entry escape the target folder.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import requests

MODEL_LIST_URL = "https://alphacephei.com/vosk/models/model-list.json"
DEFAULT_MODELS = {"en": "vosk-model-small-en-us-0.15"}


class DownloadError(RuntimeError):
    """The model could not be fetched, verified or unpacked; nothing was installed."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    lang: str
    url: str
    size: int
    md5: str


def fetch_model_list(list_url: str = MODEL_LIST_URL, timeout: float = 30.0) -> list[dict]:
    try:
        resp = requests.get(list_url, timeout=timeout)
        resp.raise_for_status()
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise DownloadError(f"cannot read the model list at {list_url}: {exc}") from None
    if not isinstance(data, list):
        raise DownloadError(f"unexpected model list format at {list_url}")
    return data


def find_model(entries: list[dict], language: str | None, name: str | None) -> ModelInfo:
    wanted = name or DEFAULT_MODELS.get(language or "")
    for e in entries:
        if wanted and e.get("name") == wanted:
            break
        if not wanted and str(e.get("lang", "")).split("-")[0] == language and e.get("type") == "small" \
                and str(e.get("obsolete", "false")) != "true":
            break
    else:
        raise DownloadError(f"no official Vosk model named {wanted or language!r} in the model list")
    try:
        return ModelInfo(name=e["name"], lang=e.get("lang", ""), url=e["url"], size=int(e["size"]), md5=e["md5"])
    except (KeyError, ValueError):
        raise DownloadError(f"model list entry for {e.get('name')!r} lacks url, size or md5") from None


def safe_extract(archive: Path, target: Path) -> None:
    """Unzip refusing absolute paths, '..' and symbolic links."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or ".." in parts or ":" in info.filename:
                raise DownloadError(f"archive entry {info.filename!r} would escape the model folder")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise DownloadError(f"archive entry {info.filename!r} is a symbolic link")
        zf.extractall(target)


def download_model(models_dir: Path, *, language: str | None = "en", name: str | None = None,
                   list_url: str = MODEL_LIST_URL, base_url: str | None = None) -> Path:
    """Install a model into models_dir/<name>; returns its folder. Idempotent."""
    info = find_model(fetch_model_list(list_url), language, name)
    final = Path(models_dir) / info.name
    if final.is_dir():
        return final
    url = info.url if base_url is None else f"{base_url.rstrip('/')}/{info.url.rsplit('/', 1)[-1]}"
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=".download-") as tmp:
        archive = Path(tmp) / "model.zip"
        md5, size = hashlib.md5(), 0
        try:
            with requests.get(url, stream=True, timeout=60) as resp:
                resp.raise_for_status()
                with open(archive, "wb") as fh:
                    for chunk in resp.iter_content(1 << 20):
                        size += len(chunk)
                        if size > info.size:
                            raise DownloadError(f"{url} is larger than the {info.size} bytes the model list says")
                        md5.update(chunk)
                        fh.write(chunk)
        except requests.RequestException as exc:
            raise DownloadError(f"cannot download {url}: {exc}") from None
        if size != info.size:
            raise DownloadError(f"{url}: got {size} bytes, the model list says {info.size}")
        if md5.hexdigest() != info.md5:
            raise DownloadError(f"{url}: checksum mismatch (md5 {md5.hexdigest()}, expected {info.md5})")
        unpacked = Path(tmp) / "unpacked"
        try:
            safe_extract(archive, unpacked)
        except zipfile.BadZipFile:
            raise DownloadError(f"{url} is not a zip archive") from None
        roots = [p for p in unpacked.iterdir()]
        source = roots[0] if len(roots) == 1 and roots[0].is_dir() else unpacked
        shutil.move(str(source), str(final))
    return final
