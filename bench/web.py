"""Call search latency on a large database, through the API and the query layer, beside the same SQL
run directly on the database connection (the baseline), on SQLite and PostgreSQL.

    .venv/bin/python bench/web.py                     # 200,000 calls, SQLite (quick)
    .venv/bin/python bench/web.py --calls 1000000 --db both

Seeds calls with bulk inserts (10 % with a two-segment transcript, 3 % flagged), then times each
filter ``--repeat`` times with varying values. Prints p50/p95 in ms and writes JSON to
``bench/results/web-<db>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from akashi.access import Principal, hash_password  # noqa: E402
from akashi.context import Akashi  # noqa: E402
from akashi.db.base import session_scope  # noqa: E402
from akashi.db.models import Agent, Call, CallFlag, Site, TranscriptSegment, User  # noqa: E402
from akashi.db.queries import CallQuery, search_calls  # noqa: E402

SITES = ["tokyo", "osaka", "nagoya", "fukuoka", "sapporo"]
SURNAMES = [
    "tanaka",
    "suzuki",
    "sato",
    "takahashi",
    "watanabe",
    "ito",
    "yamamoto",
    "nakamura",
    "kobayashi",
    "kato",
    "yoshida",
    "yamada",
    "sasaki",
    "yamaguchi",
    "matsumoto",
    "inoue",
    "kimura",
    "hayashi",
]
PHRASES = [
    "お電話ありがとうございます",
    "担当の者に代わります",
    "返金していただけますか",
    "ふざけるな",
    "土下座しろ",
    "責任者を出せ",
    "少々お待ちください",
    "ご迷惑をおかけしております",
    "訴えてやる",
    "配送の状況を確認します",
    "いつ届くのか教えてください",
    "申し訳ございません",
]
CATEGORIES = ["暴言", "脅迫", "過剰要求", "長時間拘束"]
START = datetime(2026, 1, 1, tzinfo=UTC)
PASSWORD = "bench-password-1"


def _number(rng: random.Random) -> tuple[str, str]:
    area = rng.choice(["03", "06", "052", "090", "080", "092", "011"])
    a, b = rng.randrange(1000, 9999), rng.randrange(1000, 9999)
    text_ = f"{area}-{a}-{b}"
    return text_, (area + str(a) + str(b)).lstrip("0")


def seed(ak: Akashi, calls: int, rng: random.Random) -> dict[str, Any]:
    """Bulk insert ``calls`` rows (and their transcripts and flags)."""
    t0 = time.perf_counter()
    with session_scope(ak.engine) as s:
        s.execute(insert(Site), [{"name": n, "label": n} for n in SITES])
        site_ids = [x for (x,) in s.execute(select(Site.id).order_by(Site.id))]
        agents = [
            {"name": f"{n}{i}", "site_id": site_ids[i % len(site_ids)]}
            for i in range(40)
            for n in SURNAMES[i % len(SURNAMES) :][:1]
        ]
        s.execute(insert(Agent), agents)
        agent_rows = list(s.execute(select(Agent.id, Agent.name, Agent.site_id)))
        s.add(User(name="admin", role="admin", password_hash=hash_password(PASSWORD)))
    span = 365 * 86400
    batch = 20_000
    numbers = [_number(rng) for _ in range(calls // 20 + 1)]  # repeat callers exist
    next_id = 1
    seg_rows = 0
    with ak.engine.begin() as conn:
        for lo in range(0, calls, batch):
            rows = []
            segs = []
            flags = []
            for _ in range(min(batch, calls - lo)):
                aid, aname, sid = agent_rows[rng.randrange(len(agent_rows))]
                caller, digits = numbers[rng.randrange(len(numbers))]
                started = START + timedelta(seconds=rng.randrange(span))
                dur = rng.uniform(20, 1200)
                flagged = rng.random() < 0.03
                rows.append(
                    {
                        "id": next_id,
                        "started_at": started,
                        "ended_at": started + timedelta(seconds=dur),
                        "direction": "in",
                        "caller": caller,
                        "caller_digits": digits,
                        "dialled": "0120-000-111",
                        "dialled_digits": "120000111",
                        "agent_id": aid,
                        "agent_name": aname,
                        "site_id": sid,
                        "duration_s": dur,
                        "status": "completed",
                        "source": "sip",
                        "hangup_side": "",
                        "call_ids": [],
                        "notice_mode": "automatic",
                        "codec": "pcmu",
                        "channels": 2,
                        "flags": [rng.choice(CATEGORIES)] if flagged else [],
                        "severity": 2.0 if flagged else 0.0,
                        "analysis_state": "done",
                        "extra": {},
                        "created_at": started,
                    }
                )
                if next_id % 10 == 0:
                    segs.append(
                        {
                            "call_id": next_id,
                            "channel": "operator",
                            "start_s": 0.0,
                            "end_s": 3.0,
                            "text": rng.choice(PHRASES[:3]) + "。" + rng.choice(PHRASES),
                            "reading": "",
                        }
                    )
                    segs.append(
                        {
                            "call_id": next_id,
                            "channel": "customer",
                            "start_s": 3.5,
                            "end_s": 8.0,
                            "text": rng.choice(PHRASES) + "、" + rng.choice(PHRASES),
                            "reading": "",
                        }
                    )
                if flagged:
                    flags.append(
                        {
                            "call_id": next_id,
                            "category": rows[-1]["flags"][0],
                            "source": "lexicon",
                            "words": "土下座",
                            "channel": "customer",
                            "start_s": 3.5,
                            "end_s": 8.0,
                            "score": 0.9,
                            "detail": {},
                        }
                    )
                next_id += 1
            conn.execute(insert(Call), rows)
            if segs:
                conn.execute(insert(TranscriptSegment), segs)
                seg_rows += len(segs)
            if flags:
                conn.execute(insert(CallFlag), flags)
    with ak.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return {
        "calls": calls,
        "segments": seg_rows,
        "seed_s": round(time.perf_counter() - t0, 1),
        "numbers": numbers,
        "agents": [a[1] for a in agent_rows],
    }


class Capture:
    """Records the SQL statements (with parameters) an engine runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._hook)

    def _hook(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if self.on:
            self.statements.append((statement, parameters))


def pct(xs: list[float], p: float) -> float:
    """Percentile (nearest rank) in ms."""
    s = sorted(xs)
    return round(s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] * 1000, 2)


def proposed(ak: Akashi, facts: dict[str, Any], rng: random.Random, repeat: int) -> dict[str, Any]:
    """Number search through the trigram index (FTS5 on SQLite; pg_trgm serves LIKE on PostgreSQL) and
    agent search on ``agent_id`` alone (no ``OR agent_name LIKE``), rows and count, direct SQL."""
    dialect = ak.engine.dialect.name
    out: dict[str, Any] = {}
    order = " ORDER BY started_at DESC, id DESC LIMIT 50"
    if dialect == "sqlite":
        where_num = "id IN (SELECT rowid FROM call_digits_fts WHERE call_digits_fts MATCH :q)"
    else:
        where_num = "(caller_digits LIKE :q OR dialled_digits LIKE :q)"
    where_agent = "agent_id IN (SELECT id FROM agents WHERE name LIKE :q)"

    def number_q() -> str:
        digits = rng.choice(facts["numbers"])[1]
        i = rng.randrange(0, len(digits) - 6)
        return f'"{digits[i : i + 6]}"' if dialect == "sqlite" else f"%{digits[i : i + 6]}%"

    def agent_q() -> str:
        return f"%{rng.choice(facts['agents'])}%"

    for name, where, make in (
        ("number_trigram", where_num, number_q),
        ("agent_id_only", where_agent, agent_q),
    ):
        times = []
        for _ in range(repeat):
            q = make()
            with ak.engine.connect() as conn:
                t = time.perf_counter()
                conn.execute(text(f"SELECT * FROM calls WHERE {where}{order}"), {"q": q}).all()
                conn.execute(text(f"SELECT count(*) FROM calls WHERE {where}"), {"q": q}).scalar()
                times.append(time.perf_counter() - t)
        out[name] = {"direct_sql_p50_ms": pct(times, 50), "direct_sql_p95_ms": pct(times, 95)}
        print(
            f"{dialect:10s} proposed {name:16s} sql p50 {pct(times, 50):8.1f} p95 {pct(times, 95):8.1f}",
            flush=True,
        )
    return out


def run(db: str, calls: int, repeat: int, pg_url: str) -> dict[str, Any]:
    """Seed one database and time every filter."""
    from fastapi.testclient import TestClient

    from akashi.setup import init_home
    from akashi.web.app import create_app

    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="akashi-bench-web-"))
    dbname = ""
    if db == "sqlite":
        url = f"sqlite:///{tmp / 'akashi.db'}"
    else:
        import psycopg

        dbname = f"akashi_bench_{int(time.time())}"
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{dbname}"')
        url = pg_url.rsplit("/", 1)[0] + "/" + dbname
    try:
        init_home(tmp / "home", database_url=url)
        with Akashi.open(tmp / "home") as ak:
            facts = seed(ak, calls, rng)
            admin = Principal(1, "admin", "admin", None, None)
            with session_scope(ak.engine) as s:
                site_id = s.scalar(select(Site.id).where(Site.name == "tokyo"))
            manager = Principal(2, "boss", "manager", frozenset({site_id or 1}), None)
            day = (START + timedelta(days=rng.randrange(360))).date()

            def params(kind: str) -> dict[str, str]:
                if kind == "number":
                    digits = rng.choice(facts["numbers"])[1]
                    i = rng.randrange(0, len(digits) - 6)
                    return {"number": digits[i : i + 6]}
                if kind == "number_hyphen":
                    caller = rng.choice(facts["numbers"])[0]
                    return {"number": caller[-9:]}
                if kind == "agent":
                    return {"agent": rng.choice(facts["agents"])}
                if kind == "date":
                    d = (START + timedelta(days=rng.randrange(360))).date().isoformat()
                    return {"from": d, "to": d}
                if kind == "flag":
                    return {"flag": rng.choice(CATEGORIES)}
                if kind == "words":
                    return {"q": rng.choice(["土下座", "責任者を出せ", "訴えて", "返金"])}
                if kind == "words_date":
                    return {
                        "q": "ふざけるな",
                        "from": day.isoformat(),
                        "to": (day + timedelta(days=30)).isoformat(),
                    }
                return {}

            kinds = ["none", "number", "number_hyphen", "agent", "date", "flag", "words", "words_date"]
            cap = Capture(ak.engine)
            app = create_app(ak)
            results: dict[str, Any] = {}
            with TestClient(app) as client:
                r = client.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
                assert r.status_code == 200, r.text
                for kind in kinds:
                    api_t: list[float] = []
                    layer_t: list[float] = []
                    raw_t: list[float] = []
                    totals = []
                    for _ in range(repeat):
                        p = params(kind)
                        t = time.perf_counter()
                        resp = client.get("/api/v1/calls", params={**p, "limit": 50})
                        api_t.append(time.perf_counter() - t)
                        assert resp.status_code == 200, resp.text
                        totals.append(resp.json()["total"])
                        from datetime import date as _date

                        from akashi.web.services.calls import make_query

                        q = make_query(
                            from_=_date.fromisoformat(p["from"]) if "from" in p else None,
                            to=_date.fromisoformat(p["to"]) if "to" in p else None,
                            number=p.get("number"),
                            agent=p.get("agent"),
                            site=None,
                            flag=p.get("flag"),
                            text=p.get("q"),
                            order="-started_at",
                            limit=50,
                            offset=0,
                        )
                        with session_scope(ak.engine) as s:
                            cap.statements.clear()
                            cap.on = True
                            t = time.perf_counter()
                            search_calls(s, admin, q)
                            layer_t.append(time.perf_counter() - t)
                            cap.on = False
                        stmts = [x for x in cap.statements if x[0].lstrip().upper().startswith("SELECT")]
                        raw = ak.engine.raw_connection()
                        try:
                            cur = raw.cursor()
                            t = time.perf_counter()
                            for sql, prm in stmts:
                                cur.execute(sql, prm)
                                cur.fetchall()
                            raw_t.append(time.perf_counter() - t)
                            cur.close()
                        finally:
                            raw.close()
                    results[kind] = {
                        "api_p50_ms": pct(api_t, 50),
                        "api_p95_ms": pct(api_t, 95),
                        "query_layer_p50_ms": pct(layer_t, 50),
                        "query_layer_p95_ms": pct(layer_t, 95),
                        "direct_sql_p50_ms": pct(raw_t, 50),
                        "direct_sql_p95_ms": pct(raw_t, 95),
                        "api_over_sql_p50": round(
                            statistics.median(api_t) / max(1e-9, statistics.median(raw_t)), 2
                        ),
                        "median_total": statistics.median(totals),
                    }
                    print(
                        f"{db:10s} {kind:14s} api p50 {results[kind]['api_p50_ms']:8.1f} p95 "
                        f"{results[kind]['api_p95_ms']:8.1f} | layer p50 {results[kind]['query_layer_p50_ms']:8.1f} "
                        f"p95 {results[kind]['query_layer_p95_ms']:8.1f} | sql p50 "
                        f"{results[kind]['direct_sql_p50_ms']:8.1f} p95 {results[kind]['direct_sql_p95_ms']:8.1f}"
                        f" | matches ~{results[kind]['median_total']}",
                        flush=True,
                    )
                # proposed forms of the two slow filters, as direct SQL (see the report)
                results["proposed"] = proposed(ak, facts, rng, repeat)
                # a site-scoped manager searching one day: the scope clause must not slow it down
                t_list = []
                for _ in range(repeat):
                    d = (START + timedelta(days=rng.randrange(360))).date()
                    q = CallQuery(
                        from_=datetime.combine(d, datetime.min.time(), tzinfo=UTC),
                        to=datetime.combine(d, datetime.min.time(), tzinfo=UTC) + timedelta(days=1),
                    )
                    with session_scope(ak.engine) as s:
                        t = time.perf_counter()
                        search_calls(s, manager, q)
                        t_list.append(time.perf_counter() - t)
                results["manager_date"] = {
                    "query_layer_p50_ms": pct(t_list, 50),
                    "query_layer_p95_ms": pct(t_list, 95),
                }
                print(f"{db:10s} manager_date   layer p50 {pct(t_list, 50):8.1f} p95 {pct(t_list, 95):8.1f}")
        return {
            "db": db,
            "calls": calls,
            "segments": facts["segments"],
            "seed_s": facts["seed_s"],
            "repeat": repeat,
            "results": results,
        }
    finally:
        if dbname:
            import psycopg

            with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def media_latency(minutes: int, repeat: int) -> dict[str, Any]:
    """Time to the first bytes of a long call through the API (decrypting on the fly), at the start
    and after a seek near the end, beside reading the same bytes from a plaintext file on disk."""
    import struct

    import numpy as np
    from fastapi.testclient import TestClient

    from akashi.calloutcome import CallOutcome
    from akashi.ingest import ingest_call
    from akashi.setup import init_home
    from akashi.web.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="akashi-bench-media-"))
    init_home(tmp / "home", database_url=f"sqlite:///{tmp / 'akashi.db'}")
    frames = minutes * 60 * 8000
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, size=frames * 2, dtype=np.uint8).tobytes()  # stereo mu-law
    fmt = struct.pack("<HHIIHH", 7, 2, 8000, 16000, 2, 8)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    wav = tmp / "long.wav"
    wav.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    size = wav.stat().st_size
    out: dict[str, Any] = {"minutes": minutes, "bytes": size}
    with Akashi.open(tmp / "home") as ak:
        t = time.perf_counter()
        cid = ingest_call(
            ak, wav, CallOutcome(started_at=START, direction="in", caller="03-0000-0000"), transcribe=False
        )
        out["ingest_s"] = round(time.perf_counter() - t, 2)
        with session_scope(ak.engine) as s:
            s.add(User(name="admin", role="admin", password_hash=hash_password(PASSWORD)))
        with TestClient(create_app(ak)) as client:
            assert (
                client.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD}).status_code
                == 200
            )
            for label, start in (("start", 0), ("seek_end", size - 5 * 16000)):
                api_t, disk_t = [], []
                for _ in range(repeat):
                    rng_h = f"bytes={start}-{start + 65535}"
                    t = time.perf_counter()
                    with client.stream("GET", f"/api/v1/calls/{cid}/media", headers={"Range": rng_h}) as r:
                        assert r.status_code == 206
                        next(r.iter_bytes())
                    api_t.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    with wav.open("rb") as f:
                        f.seek(start)
                        f.read(65536)
                    disk_t.append(time.perf_counter() - t)
                out[label] = {
                    "api_first_bytes_p50_ms": pct(api_t, 50),
                    "api_first_bytes_p95_ms": pct(api_t, 95),
                    "plaintext_file_p50_ms": pct(disk_t, 50),
                }
                print(
                    f"media {minutes} min {label:9s} API first 64 KiB p50 {pct(api_t, 50):7.1f} ms "
                    f"p95 {pct(api_t, 95):7.1f} ms | plaintext file {pct(disk_t, 50):6.2f} ms",
                    flush=True,
                )
            t = time.perf_counter()
            assert client.get(f"/api/v1/calls/{cid}/peaks").status_code == 200
            out["peaks_first_s"] = round(time.perf_counter() - t, 2)
            print(
                f"media {minutes} min waveform peaks (decrypt + decode whole call) {out['peaks_first_s']} s"
            )
    return out


def main() -> None:
    """Parse arguments, run, print and write JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--media-minutes", type=int, default=0, help="also time playback start of a call this long"
    )
    args = ap.parse_args()
    if args.media_minutes:
        res = media_latency(args.media_minutes, args.repeat)
        out = ROOT / "bench" / "results" / "web-media.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2))
        if args.calls == 0:
            return
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for db in dbs:
        res = run(db, args.calls, args.repeat, args.pg_url)
        out = args.out or ROOT / "bench" / "results" / f"web-{db}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, ensure_ascii=False, indent=2))
        print(f"seeded {res['calls']} calls ({res['segments']} segments) in {res['seed_s']} s; wrote {out}")


if __name__ == "__main__":
    main()
