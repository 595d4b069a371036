"""Edit the home's ``akashi.toml`` from the admin pages, keeping the file's comments and layout.

Every change is applied to a ``tomlkit`` document, the whole result is validated with
:class:`~akashi.config.settings.Settings` and only then written, atomically (temporary file, fsync,
rename; mode 0600). Environment overrides (``AKASHI_*``) still win over what is written here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import ValidationError
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from akashi import atomicfile
from akashi.config.loader import CONFIG_NAME
from akashi.config.settings import Settings
from akashi.config.telephony import AnnouncementSettings
from akashi.errors import ConfigError

Edit = Callable[[TOMLDocument], None]
_lock = threading.Lock()  # one read-modify-write of the file at a time in this process


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` (:func:`akashi.atomicfile.write_atomic`); text that is not valid
    Unicode is refused with a :class:`ConfigError`."""
    try:
        data = text.encode("utf-8")
    except UnicodeError as exc:
        raise ConfigError("文字を UTF-8 にできません", f"text is not valid Unicode: {exc}") from exc
    atomicfile.write_atomic(path, data, mode=mode)


def _read(path: Path) -> TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except TOMLKitError as exc:
        raise ConfigError(
            f"設定ファイル {path} を読めません: {exc}", f"cannot parse config file {path}: {exc}"
        ) from exc


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if not key:  # a check across sections: its message starts with the key it names
            parts.append(e["msg"])
            continue
        parts.append(f"{key}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}")
    return "; ".join(parts)


def update_config(home: Path, edit: Edit) -> Settings:
    """Apply ``edit`` to ``<home>/akashi.toml``, validate the whole file, then write it.

    Returns the settings the file now holds (without environment overrides). Nothing is written when
    the edit or the validation fails.
    """
    with _lock:
        return _update(Path(home), edit)


def _update(home: Path, edit: Edit) -> Settings:
    path = home / CONFIG_NAME
    doc = _read(path)
    try:
        edit(doc)
        text = tomlkit.dumps(doc)
        plain: dict[str, Any] = tomlkit.parse(text).unwrap()
    except (TOMLKitError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"設定を書き換えられません: {exc}", f"cannot change the configuration: {exc}"
        ) from exc
    try:
        settings = Settings.model_validate(plain)
    except ValidationError as exc:
        detail = _describe(exc)
        raise ConfigError(f"設定が正しくありません: {detail}", f"invalid configuration: {detail}") from exc
    write_atomic(path, text)
    settings.home = home
    return settings


def _table(parent: TOMLDocument | Table, key: str) -> Table:
    """The table ``key`` of ``parent``, created when missing."""
    node = parent.get(key)
    if node is None:
        node = tomlkit.table()
        parent[key] = node
    if not isinstance(node, Table):
        raise ConfigError(f"{key} は表ではありません", f"{key} is not a table")
    return node


def set_announcement(home: Path, name: str, *, mode: str, text: str) -> Settings:
    """Set the mode and text of the recording notice ``name`` (created if new)."""

    def edit(doc: TOMLDocument) -> None:
        fresh = "announcements" not in doc
        anns = _table(doc, "announcements")
        if fresh and name != "default":  # the default notice lived in the code: keep it
            default = AnnouncementSettings()
            seed = tomlkit.table()
            seed["mode"], seed["text"] = default.mode, default.text
            anns["default"] = seed
        ann = _table(anns, name)
        ann["mode"] = mode
        ann["text"] = text

    return update_config(home, edit)


def set_routes(home: Path, routes: list[dict[str, Any]]) -> Settings:
    """Replace ``[[sip.routes]]`` with ``routes`` (comments elsewhere in the file stay)."""

    def edit(doc: TOMLDocument) -> None:
        sip = _table(doc, "sip")
        aot = AoT([])
        for r in routes:
            t = tomlkit.table()
            for k, v in r.items():
                if v is not None:
                    t[k] = v
            aot.append(t)
        if routes:
            aot[-1].add(tomlkit.nl())  # a blank line before whatever table follows
        if "routes" in sip:
            del sip["routes"]
        if not sip and "sip" in doc:  # only routes lived there: rebuild it to keep no stray blank lines
            del doc["sip"]
            sip = _table(doc, "sip")
        if routes:
            sip["routes"] = aot

    return update_config(home, edit)


def set_agents(home: Path, agents: list[dict[str, Any]]) -> Settings:
    """Replace ``[[agents]]`` with ``agents`` (name, sip_user, site, password when set)."""

    def edit(doc: TOMLDocument) -> None:
        aot = AoT([])
        for a in agents:
            t = tomlkit.table()
            for k, v in a.items():
                if v not in (None, ""):
                    t[k] = v
            aot.append(t)
        if agents:
            aot[-1].add(tomlkit.nl())
        if "agents" in doc:
            del doc["agents"]
        if agents:
            doc["agents"] = aot

    return update_config(home, edit)


def set_retention(home: Path, *, calls_days: int, camera_days: int) -> Settings:
    """Set how many days calls (``retention.calls_days``) and footage (``camera_policy.retain_days``) stay."""

    def edit(doc: TOMLDocument) -> None:
        _table(doc, "retention")["calls_days"] = calls_days
        _table(doc, "camera_policy")["retain_days"] = camera_days

    return update_config(home, edit)


def set_lexicon_path(home: Path, path: str) -> Settings:
    """Point ``analysis.lexicon`` at ``path``."""

    def edit(doc: TOMLDocument) -> None:
        _table(doc, "analysis")["lexicon"] = path

    return update_config(home, edit)


def set_camera_enabled(home: Path, name: str, enabled: bool) -> Settings:
    """Set ``enabled`` of the ``[[cameras]]`` entry called ``name`` (paused or resumed by an admin)."""

    def edit(doc: TOMLDocument) -> None:
        cams = doc.get("cameras")
        tables = list(cams) if isinstance(cams, AoT) else []
        hits = [t for t in tables if isinstance(t, Table) and t.get("name") == name]
        if not hits:
            raise ConfigError(f"カメラ {name} は設定ファイルにありません", f"no camera {name} in akashi.toml")
        hits[0]["enabled"] = enabled

    return update_config(home, edit)
