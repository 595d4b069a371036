"""Load ``akashi.toml`` and ``AKASHI_*`` overrides into :class:`Settings`.

Errors name the key and, where it is in the file, the line, so that a person can fix it.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from akashi.config.settings import Settings
from akashi.errors import ConfigError

CONFIG_NAME = "akashi.toml"
ENV_PREFIX = "AKASHI_"
# Variables that are not configuration keys.
_ENV_NOT_KEYS = {"AKASHI_HOME", "AKASHI_REQUIRE_INTEROP", "AKASHI_LOG_LEVEL"}


def resolve_home(home: str | Path | None) -> Path:
    """``--home``, else ``$AKASHI_HOME``, else ``./akashi-data``."""
    if home:
        return Path(home).expanduser().resolve()
    env = os.environ.get("AKASHI_HOME")
    return Path(env).expanduser().resolve() if env else (Path.cwd() / "akashi-data").resolve()


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """``AKASHI_SECTION__KEY=value`` becomes ``{"section": {"key": value}}``; values are JSON or text."""
    data: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_KEYS or name.startswith("AKASHI_TEST"):
            continue
        path = tuple(p.lower() for p in name[len(ENV_PREFIX) :].split("__"))
        if len(path) < 2 or not all(path):
            raise ConfigError(
                f"環境変数 {name} は AKASHI_<セクション>__<キー> の形ではありません",
                f"environment variable {name} is not of the form AKASHI_<SECTION>__<KEY>",
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
        origin[path] = name
    return data, origin


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort line number of the key at ``loc`` in the TOML ``text`` (1-based)."""
    keys = [str(p) for p in loc if not isinstance(p, int)]
    if not keys:
        return None
    lines = text.splitlines()
    section: list[str] = []
    key_re = re.compile(r'^\s*"?([\w.-]+)"?\s*=')
    for sub in range(len(keys) - 1, -1, -1):
        # Find a header for keys[:sub] then the key keys[sub] inside it.
        want_section, want_key = keys[:sub], keys[sub]
        section = []
        for no, line in enumerate(lines, 1):
            header = re.match(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if header:
                section = [p.strip().strip('"') for p in header.group(1).split(".")]
                if section == keys[: sub + 1]:
                    return no
                continue
            m = key_re.match(line)
            if m and section == want_section:
                dotted = m.group(1).split(".")
                if dotted[0] == want_key:
                    return no
    return None


def _describe(err: ValidationError, text: str, path: Path | None, origin: dict[tuple[str, ...], str]) -> str:
    parts = []
    for e in err.errors():
        loc = tuple(e["loc"])
        ctx = e.get("ctx") or {}
        if not loc and isinstance(ctx.get("key"), str):  # a cross-section check names its own key
            loc = tuple(int(p) if p.isdigit() else p for p in ctx["key"].split("."))
            parts.append(f"{e['msg']}{_where(text, loc, path)}")
            continue
        key = ".".join(str(p) for p in loc)
        where = ""
        keys = tuple(str(p) for p in loc)  # an item of a list set by one variable names that variable
        env = next((origin[keys[:n]] for n in range(len(keys), 0, -1) if keys[:n] in origin), None)
        if env:
            where = f" (environment {env})"
        elif path is not None:
            line = _line_of(text, loc)
            where = f" ({path}:{line})" if line else f" ({path})"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{key}: {msg}{where}")
    return "; ".join(parts)


def _where(text: str, loc: tuple[str | int, ...], path: Path | None) -> str:
    if path is None:
        return ""
    line = _line_of(text, loc)
    return f" ({path}:{line})" if line else f" ({path})"


def load_settings(home: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the home's ``akashi.toml`` (optional) and the environment; refuse anything invalid."""
    root = resolve_home(home)
    env = os.environ if environ is None else environ
    path = root / CONFIG_NAME
    text = ""
    data: dict[str, Any] = {}
    if path.exists():
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"設定ファイル {path} を読めません: {exc}", f"cannot parse config file {path}: {exc}"
            ) from exc
    overrides, origin = _env_overrides(env)
    merged = _merge(data, overrides)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        detail = _describe(exc, text, path if path.exists() else None, origin)
        raise ConfigError(f"設定が正しくありません: {detail}", f"invalid configuration: {detail}") from exc
    settings.home = root
    return settings
