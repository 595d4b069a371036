"""What a bulk import will import: the files of a folder, described by a CSV map or a file-name pattern.

Sans-I/O apart from reading the map and listing the folder: every item names a file *inside* the
folder (a map row pointing elsewhere, by ``..``, an absolute path or a symbolic link, is refused
for that row), with the call's facts as text, checked later when the call record is built.

Map columns: ``file, caller, dialled, agent, site, started, direction, notice`` (``file`` and
``caller`` required; an empty cell takes the command's default). Patterns: ``{field}`` or
``{started:STRFTIME}`` placeholders, e.g. ``{started:%Y%m%d_%H%M%S}_{caller}.wav``; ``{*}`` matches
anything that is not kept.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from akashi.errors import ConfigError

COLUMNS = ("file", "caller", "dialled", "agent", "site", "started", "direction", "notice")
REQUIRED = ("file", "caller")
PATTERN_FIELDS = ("caller", "dialled", "agent", "site", "started", "direction", "notice")
#: strftime directives a pattern may use for ``started``, as regular expressions
DIRECTIVES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{1,2}",
    "d": r"\d{1,2}",
    "H": r"\d{1,2}",
    "M": r"\d{1,2}",
    "S": r"\d{1,2}",
    "f": r"\d{1,6}",
    "%": "%",
}
JST = ZoneInfo("Asia/Tokyo")
MAX_MAP_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Item:
    """One file to import, with the facts the map or pattern gave (``problem``: why it cannot be)."""

    name: str  # as the map or the folder listing names it (relative to the folder)
    path: Path | None  # resolved, inside the folder; None when refused
    values: dict[str, str] = field(default_factory=dict)
    problem: tuple[str, str] | None = None


def inside(root: Path, name: str) -> Path | None:
    """``root/name`` resolved, if it stays inside ``root`` (no ``..``, absolute path or link out)."""
    if not name or "\0" in name or Path(name).is_absolute() or "\\" in name:
        return None
    base = root.resolve()
    target = (base / name).resolve()
    return target if target.is_relative_to(base) and target != base else None


def _decode_map(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else Shift_JIS (cp932), which Japanese spreadsheets write."""
    for enc in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ConfigError(
        "対応表の文字コードが読めません（UTF-8 か Shift_JIS にしてください）",
        "cannot read the map's text encoding (use UTF-8 or Shift_JIS)",
    )


def items_from_map(root: Path, map_file: Path) -> list[Item]:
    """The items of a CSV map; a header without ``file`` and ``caller`` or with unknown columns is an error."""
    if map_file.stat().st_size > MAX_MAP_BYTES:
        raise ConfigError("対応表が大きすぎます（64 MiB 超）", "the map is larger than 64 MiB")
    reader = csv.DictReader(io.StringIO(_decode_map(map_file.read_bytes()), newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        raise ConfigError(
            f"対応表の列が違います（必要: {', '.join(REQUIRED)}、不明: {', '.join(unknown) or 'なし'}）",
            f"map columns: missing {', '.join(missing) or 'none'}, unknown {', '.join(unknown) or 'none'} "
            f"(allowed: {', '.join(COLUMNS)})",
        )
    reader.fieldnames = header
    items: list[Item] = []
    for row in reader:
        values = {k: (v or "").strip() for k, v in row.items() if k in COLUMNS and isinstance(v, str)}
        name = values.pop("file", "")
        if not name and not any(values.values()):
            continue  # a blank line
        path = inside(root, name)
        problem = None
        if path is None:
            problem = (
                f"フォルダの外のファイルは取り込みません: {name!r}",
                f"refused: not a file inside the folder: {name!r}",
            )
        elif not path.is_file():
            problem = (f"ファイルがありません: {name!r}", f"no such file: {name!r}")
        items.append(Item(name, path if problem is None else None, values, problem))
    return items


@dataclass(frozen=True)
class Pattern:
    """A compiled file-name pattern: a regular expression and the strftime format of ``started``."""

    regex: re.Pattern[str]
    started_format: str | None

    def match(self, name: str) -> dict[str, str] | None:
        """The values a file name gives, or None when it does not match."""
        m = self.regex.fullmatch(name)
        if m is None:
            return None
        return {k: v for k, v in m.groupdict().items() if not k.startswith("_")}


def _time_regex(fmt: str) -> str:
    out, i = "", 0
    while i < len(fmt):
        if fmt[i] == "%":
            if i + 1 >= len(fmt) or fmt[i + 1] not in DIRECTIVES:
                raise ConfigError(
                    f"日時の書式 {fmt!r} に使えない指定があります（%Y %y %m %d %H %M %S %f）",
                    f"time format {fmt!r}: only %Y %y %m %d %H %M %S %f are supported",
                )
            out += DIRECTIVES[fmt[i + 1]]
            i += 2
        else:
            out += re.escape(fmt[i])
            i += 1
    return out


def compile_pattern(pattern: str) -> Pattern:
    """Compile ``{started:%Y%m%d_%H%M%S}_{caller}.wav``-style patterns (``{*}`` ignores a part)."""
    out, fmt, seen, wild = "", None, set(), 0
    pos = 0
    for m in re.finditer(r"\{([^{}:]*)(?::([^{}]*))?\}", pattern):
        out += re.escape(pattern[pos : m.start()])
        pos = m.end()
        name, spec = m.group(1), m.group(2)
        if name == "*":
            wild += 1
            out += f"(?P<_w{wild}>.*?)"
            continue
        if name not in PATTERN_FIELDS or name in seen:
            raise ConfigError(
                f"パターンの項目 {{{name}}} は使えないか重複しています（{', '.join(PATTERN_FIELDS)}、*）",
                f"pattern field {{{name}}} is unknown or repeated (allowed: {', '.join(PATTERN_FIELDS)}, *)",
            )
        seen.add(name)
        if name == "started" and spec:
            fmt = spec
            out += f"(?P<started>{_time_regex(spec)})"
        else:
            out += f"(?P<{name}>.+?)"
    out += re.escape(pattern[pos:])
    if "{" in pattern[pos:] or "}" in pattern[pos:]:
        raise ConfigError(
            f"パターンの括弧が閉じていません: {pattern}", f"unbalanced braces in pattern: {pattern}"
        )
    if "caller" not in seen:
        raise ConfigError(
            "パターンには {caller} が必要です", "the pattern needs a {caller} field (who called)"
        )
    return Pattern(re.compile(out), fmt)


def items_from_pattern(root: Path, pattern: Pattern) -> tuple[list[Item], list[str]]:
    """The files under ``root`` whose names match (sorted), and the names that did not match."""
    items: list[Item] = []
    ignored: list[str] = []
    base = root.resolve()
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        values = pattern.match(path.name)
        if values is None:
            ignored.append(rel)
            continue
        target = inside(base, rel)
        if target is None or not target.is_file():
            items.append(
                Item(
                    rel,
                    None,
                    values,
                    (f"フォルダの外を指すリンクです: {rel!r}", f"refused: a link out of the folder: {rel!r}"),
                )
            )
            continue
        if pattern.started_format and values.get("started"):
            try:
                values["started"] = (
                    datetime.strptime(values["started"], pattern.started_format)
                    .replace(tzinfo=JST)
                    .isoformat()
                )
            except ValueError:
                items.append(
                    Item(
                        rel,
                        None,
                        values,
                        (f"日時が読めません: {values['started']!r}", f"not a time: {values['started']!r}"),
                    )
                )
                continue
        items.append(Item(rel, target, values))
    return items, ignored


def parse_started(text: str) -> datetime | None:
    """An ISO 8601 time (no zone: JST) as UTC; None for an empty cell; ``ValueError`` if unreadable."""
    if not text:
        return None
    t = datetime.fromisoformat(text)
    return (t if t.tzinfo else t.replace(tzinfo=JST)).astimezone(UTC)
