"""``bench/telephony.py --against [REF]``: the same steps with the code of commit REF and with the working
tree, interleaved per repetition, printed side by side (before | after | after/before).

The commit is checked out by ``git worktree add --detach`` into the run's temporary folder (removed
afterwards); both codes run on this venv's Python with ``PYTHONPATH=<code>/src`` (:class:`harness.Code`).
What each step measures is ``bench/telephony.py``'s; its docstring says how the comparison is read.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.harness import ADMISSION_OFF, Code, git, tones

#: --against's default: the last commit before issue 13's call-control work (see telephony.py's docstring)
BEFORE = "5e945f2"

#: what each figure of the side-by-side table is read from in one step's result
FIGURES: dict[str, tuple[str, ...]] = {
    "loss": ("loss",),
    "relay_p50_ms": ("probe", "delay_p50_ms"),
    "relay_p99_ms": ("probe", "delay_p99_ms"),
    "loop_lag_p99_ms": ("akashi_loop_lag_us", "loop_lag_p99_us"),
    "cpu_per_call_pct": ("akashi_cpu_per_call_pct",),
    "cpu_vs_direct_sipp": ("cpu_ratio_vs_direct_sipp",),
    "setup_calls_per_s": ("setup_calls_per_s",),
}


def package(code: Code, cwd: Path) -> str:
    """Where ``code``'s imported ``akashi`` lives; refuses to go on unless it is under the code's src."""
    got = Path(code.python("import akashi; print(akashi.__file__)", cwd=cwd).strip()).resolve()
    if not got.is_relative_to(code.src.resolve()):
        raise SystemExit(f"{code.label}: imported {got}, not the package under {code.src}")
    return str(got)


def knows_sip_setting(code: Code, name: str, cwd: Path) -> bool:
    """Whether ``code``'s ``[sip]`` settings have the key ``name`` (its schema refuses unknown keys)."""
    return (
        code.python(
            "import sys; from akashi.config import Settings; "
            "print(sys.argv[1] in Settings.model_fields['sip'].annotation.model_fields)",
            name,
            cwd=cwd,
        ).strip()
        == "True"
    )


@contextlib.contextmanager
def checkout(ref: str, into: Path) -> Iterator[Code]:
    """The commit ``ref`` as a detached worktree under ``into``, removed afterwards."""
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    path = into / "ref"
    git("worktree", "add", "--detach", str(path), commit)
    try:
        yield Code("before", path / "src", commit[:12])
    finally:
        git("worktree", "remove", "--force", str(path))


def figure(run: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """One figure of a step's result (loop lag in ms), or None when the step did not produce it."""
    value: Any = run
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return None
    return float(value) / 1000 if path[-1].endswith("_us") else float(value)


def side_by_side(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float | None]]:
    """Each figure's median over the repetitions, before and after, and after / before."""
    out: dict[str, dict[str, float | None]] = {}
    for name, path in FIGURES.items():
        pair: dict[str, float | None] = {}
        for label in ("before", "after"):
            values = [v for v in (figure(r, path) for r in runs[label]) if v is not None]
            pair[label] = round(statistics.median(values), 6) if values else None
        b, a = pair["before"], pair["after"]
        pair["ratio"] = round(a / b, 3) if a is not None and b else None
        out[name] = pair
    return out


def compare(
    steps: list[int],
    duration: float,
    work: Path,
    before: Code,
    repeats: int,
    keep_going: bool,
    direct: Callable[..., dict[str, Any]],
    measure: Callable[..., dict[str, Any]],
    sip_extra: str = "",
) -> tuple[dict[str, Any], bool]:
    """Before and after interleaved per repetition (the order flips each time); one table of both.

    ``direct(work, n, duration, False, wav, notice)`` is the SIPp pair's run without Akashi and
    ``measure(work, n, duration, wav, notice, code, baseline)`` one step through ``code``'s Akashi;
    ``sip_extra``: more ``[sip]`` lines for both (``media_workers = 2``).
    """
    wav, notice = tones(work)
    codes = []
    for code in (before, Code.working_tree()):
        # the load control that came after REF refuses calls on a loaded machine: off, so both take all
        off = knows_sip_setting(code, "admission_max_cpu", work)
        more = sip_extra
        if more and not knows_sip_setting(code, "media_workers", work):
            if more.strip() != "media_workers = 0":
                raise SystemExit(f"{code.label} ({code.commit}) has no sip.media_workers")
            more = ""  # older code relays in the SIP process, as media_workers = 0 does
        codes.append(replace(code, sip_extra=(ADMISSION_OFF if off else "") + more))
    info = {
        c.label: {"commit": c.commit, "package": package(c, work), "sip_extra": c.sip_extra} for c in codes
    }
    print(json.dumps(info), flush=True)
    rows: list[dict[str, Any]] = []
    flip = 0
    for n in steps:
        base = direct(work / f"direct-{n}", n, duration, False, wav, notice)
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for rep in range(repeats):
            for i, code in enumerate(codes if flip % 2 == 0 else codes[::-1]):
                run = measure(work / f"{code.label}-{n}-{rep}", n, duration, wav, notice, code, base)
                run |= {"repetition": rep, "ran_first": i == 0}
                runs[code.label].append(run)
                print(json.dumps(run), flush=True)
            flip += 1
        clean = {k: sum(1 for r in v if r["clean"]) for k, v in runs.items()}
        rows.append({"n": n, "clean_runs": clean, "figures": side_by_side(runs), "baseline": base, **runs})
        # p99 alone (the neighbours) does not end the comparison; neither code carrying the load does
        carried = [
            r for v in runs.values() for r in v if int(r.get("bridged", 0)) >= n and r["loss"] <= 0.0001
        ]
        if not carried and not keep_going:
            break
    print_table(rows, repeats)
    loads = [
        r["loadavg_1m_end"] for row in rows for k in ("before", "after", "baseline") for r in _list(row[k])
    ]
    summary = {
        "against": info,
        "duration_s": duration,
        "repeats": repeats,
        "loadavg_1m_range": [min(loads), max(loads)],
        "steps": rows,
    }
    print(
        f"1-min load average at the steps' ends: {min(loads):.2f} to {max(loads):.2f} ({os.cpu_count()} CPUs)"
    )
    return summary, all(r["clean"] for row in rows for k in ("before", "after") for r in row[k])


def _list(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


def print_table(rows: list[dict[str, Any]], repeats: int) -> None:
    """One line per N: each figure as before | after | after/before (medians of the repetitions)."""
    cols = (
        "relay_p50_ms",
        "relay_p99_ms",
        "loop_lag_p99_ms",
        "cpu_per_call_pct",
        "cpu_vs_direct_sipp",
        "loss",
    )

    def cell(pair: dict[str, float | None]) -> str:
        b, a, x = (pair[k] for k in ("before", "after", "ratio"))
        num = "{:.4g}".format
        return f"{'-' if b is None else num(b)} | {'-' if a is None else num(a)} | " + (
            "-" if x is None else f"x{x:.2f}"
        )

    print(f"\nbefore | after | ratio (after/before), medians of {repeats} run(s) each")
    print(f"{'N':>5} {'clean':>7}  " + "  ".join(f"{c:<24}" for c in cols))
    for row in rows:
        clean = f"{row['clean_runs']['before']}/{row['clean_runs']['after']}"
        print(f"{row['n']:>5} {clean:>7}  " + "  ".join(f"{cell(row['figures'][c]):<24}" for c in cols))
