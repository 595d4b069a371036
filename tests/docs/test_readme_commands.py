"""The README's and the guide's commands are the program's commands, so the documents cannot drift.

Every ``akashi`` line in a shell block of ``README.md`` and ``docs/guide.md`` must name a command that exists
and parse with its options (checked against the CLI itself, without running it). The README's safe lines
(``init``, ``user add``, ``import call``, ``calls search``/``show``, ``verify``, ``export call``/``check``) are
then run exactly as written, in order, in a fresh folder with a generated WAV as ``old.wav``: each must exit 0
and do what the README says. Links from the README into the guide must land on an anchor, every picture
either document shows must exist, every TOML example of the guide must load, and the systemd units in
``deploy/systemd`` must run a real command on a private home.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide.md"
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.S | re.M)
#: the README commands that change nothing outside a fresh folder, run by this test (in README order)
SAFE = {
    ("init",),
    ("user", "add"),
    ("import", "call"),
    ("calls", "search"),
    ("calls", "show"),
    ("verify",),
    ("export", "call"),
    ("export", "check"),
}
#: options of the root command that take a value
ROOT_VALUE_OPTIONS = {"--home"}
#: shell tokens that end a command
SEPARATORS = {"|", "||", "&&", ";", ">", ">>", "2>"}


def shell_lines(text: str) -> list[str]:
    """The command lines of the shell blocks of a Markdown text (``\\`` continuations joined)."""
    lines: list[str] = []
    for block in SHELL_BLOCK.findall(text):
        pending = ""
        for raw in block.splitlines():
            line = pending + raw
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def akashi_argv(line: str) -> list[str] | None:
    """The arguments given to ``akashi`` on a shell line (after any ``echo … |``), or None if it runs no akashi."""
    tokens = shlex.split(line, comments=True)
    starts = [
        i
        for i, t in enumerate(tokens)
        if t.endswith("/bin/akashi") or (t == "akashi" and (i == 0 or tokens[i - 1] in SEPARATORS))
    ]
    if not starts:
        return None
    rest = tokens[starts[0] + 1 :]
    for i, t in enumerate(rest):
        if t in SEPARATORS:
            return rest[:i]
    return rest


class NotACommand(Exception):
    """A documented line names no command, or an option the root command does not have."""


#: the error type of typer's (vendored) click: usage errors, unknown options, missing values
CliError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
ERRORS = (CliError, NotACommand)


def resolve(argv: list[str]) -> tuple[str, ...]:
    """The command path ``argv`` names, after its options and arguments parsed; an error of ERRORS if not."""
    from akashi.cli import main as _main  # noqa: F401  (registers every command on the app)
    from akashi.cli.apps import app

    cmd: Any = typer.main.get_command(app)
    ctx: Any = typer.Context(cmd, info_name="akashi")
    args = list(argv)
    path: list[str] = []
    while hasattr(cmd, "get_command"):  # a group: its own options, then a subcommand
        while args and args[0].startswith("-"):
            opt = args.pop(0)
            if opt.split("=", 1)[0] not in ROOT_VALUE_OPTIONS:
                raise NotACommand(f"unknown option {opt}")
            if "=" not in opt:
                args.pop(0)
        if not args:
            raise NotACommand(f"no command after {' '.join(['akashi', *path])}")
        name = args.pop(0)
        sub = cmd.get_command(ctx, name)
        if sub is None:
            raise NotACommand(f"no such command: {' '.join(['akashi', *path, name])}")
        path.append(name)
        ctx = typer.Context(sub, info_name=name, parent=ctx)
        cmd = sub
    cmd.make_context(path[-1], args, parent=ctx.parent)  # parses (and checks) options and arguments
    return tuple(path)


def documented_commands(path: Path) -> list[tuple[str, list[str]]]:
    """Each ``akashi`` line of a document with its arguments."""
    out = []
    for line in shell_lines(path.read_text(encoding="utf-8")):
        argv = akashi_argv(line)
        if argv is not None:
            out.append((line, argv))
    return out


@pytest.mark.parametrize("doc", [README, GUIDE], ids=["README", "guide"])
def test_every_documented_command_exists_and_parses(
    doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = documented_commands(doc)
    # the reader's own input files (old.wav, call-1.zip) exist where the commands run; here, empty stand-ins
    monkeypatch.chdir(tmp_path)
    for _, argv in commands:
        for arg in argv:
            if re.fullmatch(r"[\w.-]+\.(wav|mp3|m4a|zip)", arg):
                (tmp_path / arg).touch()
    assert len(commands) >= 8, f"{doc.name}: too few akashi commands found; did the shell blocks change?"
    bad = []
    for line, argv in commands:
        try:
            resolve(argv)
        except ERRORS as exc:
            bad.append(f"{line}\n    -> {exc}")
    assert bad == [], "\n".join(bad)


def test_resolve_refuses_what_the_cli_refuses() -> None:
    # the checker itself must be able to fail: unknown command, unknown option, missing required value
    for argv in (["calls", "list"], ["verify", "--fast"], ["export", "call", "1"], ["nonsense"]):
        with pytest.raises(ERRORS):
            resolve(argv)
    assert resolve(["--home", "x", "calls", "show", "1", "--json"]) == ("calls", "show")


def test_make_targets_in_readme_exist() -> None:
    text = README.read_text(encoding="utf-8")
    targets = {m for line in shell_lines(text) for m in re.findall(r"^make (\w[\w-]*)", line)}
    assert {"run", "test"} <= targets
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for t in targets:
        assert re.search(rf"^{re.escape(t)}:", makefile, re.M), (
            f"make {t} is in the README, not in the Makefile"
        )


def test_links_into_the_guide_and_pictures_exist() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', guide))
    for doc in (README, GUIDE):
        text = doc.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(((?:docs/)?guide\.md)?#([\w-]+)\)", text):
            if doc == README and not target:
                continue  # README's own headings
            assert anchor in anchors, f"{doc.name} links to guide.md#{anchor}, which does not exist"
        for link in re.findall(r"\]\(((?:docs/|deploy/|screenshots/)[^)#\s]+)\)", text):
            assert (doc.parent / link).exists(), f"{doc.name} refers to {link}, which does not exist"


def _old_wav(path: Path, seconds: float = 3.0, rate: int = 8000) -> None:
    """Stereo PCM16 like an old recorder's file: a tone per side (customer left, operator right)."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        left = int(6000 * math.sin(2 * math.pi * 440 * i / rate))
        right = int(6000 * math.sin(2 * math.pi * 660 * i / rate))
        frames += struct.pack("<hh", left, right)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


def _akashi_program() -> Path:
    found = Path(sys.executable).parent / "akashi"
    if found.exists():
        return found
    which = shutil.which("akashi")
    if which is None:
        pytest.fail("the akashi program is not installed next to this Python (pip install -e .)")
    return Path(which)


def test_readme_first_steps_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # each line is parsed where it runs (its files exist by then)
    bindir = tmp_path / ".venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "akashi").symlink_to(_akashi_program())
    _old_wav(tmp_path / "old.wav")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    ran: dict[tuple[str, ...], str] = {}
    for line, argv in documented_commands(README):
        path = resolve(argv)
        if path not in SAFE:
            continue
        proc = subprocess.run(
            ["bash", "-c", line],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, (
            f"README line failed ({proc.returncode}): {line}\n{proc.stdout}\n{proc.stderr}"
        )
        ran[path] = proc.stdout
    assert set(ran) == SAFE, f"README lost its first steps: {sorted(SAFE - set(ran))}"

    home = tmp_path / "akashi-data"
    assert (home / "akashi.toml").exists() and (home / "keys" / "installation.key").exists()
    found = json.loads(ran[("calls", "search")])
    assert found["total"] == 1
    assert [(c["id"], c["caller"], c["dialled"]) for c in found["calls"]] == [
        (1, "03-1234-5678", "0120-000-000")
    ]
    shown = json.loads(ran[("calls", "show")])
    assert (shown["id"], shown["agent"], shown["site"], shown["direction"]) == (1, "佐藤 花子", "tokyo", "in")
    assert shown["started_at"] == "2026-11-02T01:15:00+00:00"  # 10:15 JST, as typed in the README
    assert shown["notice"]["mode"] == "operator"  # the README's default for imported calls
    assert (tmp_path / "call-1.zip").stat().st_size > 0
    verdict = ran[("export", "check")].strip().splitlines()[-1]
    assert verdict.startswith("結果 / Result: OK"), verdict


def _unit(path: Path) -> dict[str, list[str]]:
    """The ``Key=value`` lines of a systemd unit (repeated keys kept in order)."""
    keys: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def test_systemd_units_run_real_commands_on_a_private_home() -> None:
    units = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
    assert units, "deploy/systemd has no unit"
    for path in units:
        unit = _unit(path)
        (exec_start,) = unit["ExecStart"]
        argv = akashi_argv(exec_start)
        assert argv is not None and argv[0] == "--home", f"{path.name}: ExecStart must name the home"
        assert resolve(argv) == ("serve",)
        home = argv[1]
        # the service writes only its home, as its own unprivileged user, files private to it
        assert unit["ReadWritePaths"] == [home] and unit["WorkingDirectory"] == [home]
        assert unit["User"] != ["root"] and unit["UMask"] == ["0077"]
        assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
        assert f"AKASHI_HOME={home}" in unit["Environment"]
        assert path.name in (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")


def test_every_toml_example_of_the_guide_loads(tmp_path: Path) -> None:
    from akashi.config.loader import load_settings
    from akashi.errors import AkashiError

    blocks = re.findall(r"^```toml\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) >= 6
    bad = []
    for i, block in enumerate(blocks):
        home = tmp_path / f"home-{i}"
        home.mkdir()
        (home / "akashi.toml").write_text(block, encoding="utf-8")
        try:
            load_settings(home, environ={})
        except (AkashiError, ValueError) as exc:
            bad.append(f"--- block {i + 1}:\n{block}-> {exc}")
    assert bad == [], "\n".join(bad)
