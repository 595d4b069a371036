"""Benchmark: put and get throughput of the encrypted evidence store on local disk vs a plain copy.

Writes a source file of random bytes, then runs several rounds (medians reported) of, each step
after a sync and with its input evicted from the page cache:
``EvidenceStore.put`` of the file (encrypt, hash plaintext and ciphertext, write, fsync, rename,
ledger entry), a plain copy of the same file (read, write, fsync), and a full ``iter_plaintext``
read written to a file (authenticate, decrypt, write, fsync). Prints MB/s, the store/copy ratios,
CPU seconds (user mode = our hashing and AES-GCM), the peak memory growth, and writes JSON.

    .venv/bin/python bench/store.py            # 1 GiB, 5 rounds
    .venv/bin/python bench/store.py --quick    # 128 MiB
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

MiB = 1024 * 1024


def rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_source(path: Path, size: int) -> None:
    block = os.urandom(4 * MiB)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n] if left > len(block) else os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())


def cpu_s() -> float:
    """CPU seconds of this process, all threads, user + system."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def user_s() -> float:
    """User-mode CPU seconds (our own work: hashing, encryption), all threads."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def drop_cache(path: Path) -> None:
    """Evict a (synced) file from the page cache: every timed step reads its input cold."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cpu_pressure() -> str | None:
    """Linux pressure-stall line for the CPU: how much other work competed during the run."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None


def plain_copy(src: Path, dst: Path) -> float:
    t = time.perf_counter()
    with open(src, "rb", buffering=0) as fi, open(dst, "wb", buffering=0) as fo:
        while block := fi.read(MiB):
            fo.write(block)
        os.fsync(fo.fileno())
    dt = time.perf_counter() - t
    dst.unlink()
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="bytes to store, in MiB (default 1024)")
    ap.add_argument("--quick", action="store_true", help="128 MiB instead")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "store.json")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved copy/put/get rounds; medians reported")
    ap.add_argument("--trace", action="store_true", help="also trace Python allocations (slower)")
    args = ap.parse_args()
    size = (128 if args.quick else args.size_mb) * MiB

    from akashi.context import Akashi
    from akashi.db.base import utcnow
    from akashi.setup import init_home
    from akashi.store.backends.base import object_key

    work = Path(tempfile.mkdtemp(prefix="akashi-bench-", dir=args.dir))
    try:
        src = work / "source.bin"
        make_source(src, size)
        init_home(work / "home")
        with Akashi.open(work / "home") as ak:
            store = ak.store
            copies: list[float] = []
            puts: list[float] = []
            gets: list[float] = []
            rss0 = rss_mib()
            if args.trace:
                tracemalloc.start()
            same = True
            cpu: dict[str, list[float]] = {"copy": [], "put": [], "get": []}
            user: dict[str, list[float]] = {"copy": [], "put": [], "get": []}
            for rnd in range(args.rounds):
                last = rnd == args.rounds - 1
                # Order put, copy, get: every timed step follows another 1 GiB write + fsync, so
                # none of them alone pays for the storage still settling from its predecessor.
                os.sync()
                drop_cache(src)
                c, u = cpu_s(), user_s()
                t = time.perf_counter()
                with open(src, "rb") as f:
                    # Earlier rounds' objects expire at once and are deleted after their round, so
                    # every round writes into page-cache memory the system has used before (on a VM
                    # the first touch of fresh memory is several times slower and would favour copy).
                    res = store.put(
                        f, kind="bench", media_type="application/octet-stream",
                        retain_until=None if last else utcnow(),
                    )  # fmt: skip
                puts.append(time.perf_counter() - t)
                cpu["put"].append(cpu_s() - c)
                user["put"].append(user_s() - u)
                # Each timed step starts with no dirty pages left over and its input cold.
                os.sync()
                drop_cache(src)
                c, u = cpu_s(), user_s()
                copies.append(plain_copy(src, work / "copy.bin"))
                cpu["copy"].append(cpu_s() - c)
                user["copy"].append(user_s() - u)
                os.sync()
                drop_cache(store.settings.evidence_path / object_key(res.object_id))
                c, u = cpu_s(), user_s()
                t = time.perf_counter()
                with open(work / "out.bin", "wb", buffering=0) as fo:
                    for piece in store.iter_plaintext(res.object_id):
                        fo.write(piece)
                    os.fsync(fo.fileno())
                gets.append(time.perf_counter() - t)
                cpu["get"].append(cpu_s() - c)
                user["get"].append(user_s() - u)
                same = same and (work / "out.bin").stat().st_size == size
                (work / "out.bin").unlink()
                if not last:
                    store.apply_retention()
            rss_peak = rss_mib()
            traced = tracemalloc.get_traced_memory()[1] / MiB if args.trace else None
            if args.trace:
                tracemalloc.stop()
            t = time.perf_counter()
            report = store.verify()  # the last round's object, and the earlier ones' tombstones
            verify_s = time.perf_counter() - t
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = size / 1e6
    copy_s, put_s, get_s = (statistics.median(x) for x in (copies, puts, gets))
    fig = {
        "bytes": size,
        "rounds": args.rounds,
        "copy_mb_s": round(mb / copy_s, 1),
        "put_mb_s": round(mb / put_s, 1),
        "get_mb_s": round(mb / get_s, 1),
        "verify_mb_s": round(mb / verify_s, 1),
        "put_ratio": round(copy_s / put_s, 3),
        "get_ratio": round(copy_s / get_s, 3),
        # Least-disturbed run of each (other processes share the CPUs): the fairest ratio on a busy host.
        "best_put_ratio": round(min(copies) / min(puts), 3),
        "best_get_ratio": round(min(copies) / min(gets), 3),
        "cpu_pressure": cpu_pressure(),
        "runs_s": {
            "copy": [round(x, 3) for x in copies],
            "put": [round(x, 3) for x in puts],
            "get": [round(x, 3) for x in gets],
        },
        "cpu_s_median": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
        "user_cpu_s_median": {k: round(statistics.median(v), 3) for k, v in user.items()},
        "peak_rss_growth_mib": round(rss_peak - rss0, 1),
        "peak_rss_mib": round(rss_peak, 1),
        "traced_python_peak_mib": None if traced is None else round(traced, 1),
        "load_average_1m": os.getloadavg()[0],
        "verify_ok": report.ok,
        "roundtrip_size_ok": same,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    put_pct, get_pct = f"{fig['put_ratio']:.0%}", f"{fig['get_ratio']:.0%}"
    print(f"plain copy : {fig['copy_mb_s']:8.1f} MB/s")
    print(
        f"store put  : {fig['put_mb_s']:8.1f} MB/s  ({put_pct} of copy; best runs {fig['best_put_ratio']:.0%})"
    )
    print(
        f"store get  : {fig['get_mb_s']:8.1f} MB/s  ({get_pct} of copy; best runs {fig['best_get_ratio']:.0%})"
    )
    print(f"verify     : {fig['verify_mb_s']:8.1f} MB/s")
    print(f"CPU seconds (median, all threads): {fig['cpu_s_median']}")
    print(f"  of which user mode (hashing, AES-GCM): {fig['user_cpu_s_median']}")
    print(f"load average {fig['load_average_1m']:.1f}; CPU pressure: {fig['cpu_pressure']}")
    print(f"peak RSS growth: {fig['peak_rss_growth_mib']} MiB (process peak {fig['peak_rss_mib']} MiB)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fig, indent=2))
    print(f"wrote {args.out}")
    return 0 if report.ok and same else 1


if __name__ == "__main__":
    sys.exit(main())
