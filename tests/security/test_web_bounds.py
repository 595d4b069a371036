"""Requests without bounds, tried as an attacker would over a real socket (httpx, raw sockets).

The server runs in its own process (:mod:`tests.security.webserve`) so that its memory can be read
from ``/proc``: a 100 MB body must be refused after the first megabyte, never buffered.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import CallFlag
from tests.conftest import make_home
from tests.security.webserve import WebServer, proc_kib, set_web
from tests.web.conftest import PASSWORD, Seeded, seed

MiB = 1024 * 1024
MARKER = "ECHO-MARKER-7f3a"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Seeded, WebServer]]:
    """A seeded SQLite home (throttle set high: these tests log in often) served in its own process."""
    tmp = tmp_path_factory.mktemp("bounds")
    home = make_home(tmp / "home", f"sqlite:///{tmp / 'akashi.db'}")
    set_web(home, login_attempts_per_minute=1000)
    with Akashi.open(home) as ak:
        seeded = seed(ak, tmp)
        with WebServer(home) as srv:
            yield seeded, srv


@contextlib.contextmanager
def _login(url: str, name: str = "admin") -> Iterator[httpx.Client]:
    """An httpx client logged in through the API, its CSRF header set."""
    with httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/api/v1/auth/login", json={"name": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.headers["x-csrf-token"] = r.json()["csrf_token"]
        yield client


def _stream(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON object ``{"name": "aaaa…`` of ``total`` bytes, sent chunked (no Content-Length)."""
    head = b'{"name": "' + MARKER.encode()
    yield head
    sent = len(head)
    block = b"a" * chunk
    while sent < total:
        yield block
        sent += len(block)


def test_streamed_100mb_json_login_is_refused_while_read(world: tuple[Seeded, WebServer]) -> None:
    """100 MB of JSON streamed to the login route: 413, nothing echoed, the server's peak memory flat."""
    _seeded, srv = world
    # Warm the route up (imports, first request) so that only the attack is measured.
    assert httpx.post(f"{srv.url}/api/v1/auth/login", json={"name": ""}).status_code == 422
    before = proc_kib(srv.pid, "VmHWM")
    try:
        r = httpx.post(
            f"{srv.url}/api/v1/auth/login",
            content=_stream(100 * MiB),
            headers={"content-type": "application/json"},
            timeout=60,
        )
    except httpx.TransportError:
        pytest.fail("the server dropped the connection instead of answering 413")
    growth_mib = (proc_kib(srv.pid, "VmHWM") - before) / 1024
    assert r.status_code == 413, r.text[:200]
    detail = r.json()["detail"]
    assert detail["code"] == "too_large" and "1 MiB" in detail["en"] and "大きすぎます" in detail["ja"]
    assert MARKER not in r.text and len(r.content) < 1000
    assert growth_mib < 24, f"server peak memory grew {growth_mib:.0f} MiB"


def test_declared_huge_body_is_refused_before_it_is_sent(world: tuple[Seeded, WebServer]) -> None:
    """Content-Length: 100 MB and no body yet (raw socket): 413 comes back without waiting for it."""
    _seeded, srv = world
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n" + b'{"name": "' + MARKER.encode()
        )
        answer = b""
        while data := sock.recv(65536):  # the server answers and closes without reading the body
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:100]
    assert json.loads(body)["detail"]["code"] == "too_large" and MARKER.encode() not in body


def test_page_form_over_the_limit_is_refused(world: tuple[Seeded, WebServer]) -> None:
    """A 2 MB login form: 413 as an HTML page, the value not repeated."""
    _seeded, srv = world
    r = httpx.post(
        f"{srv.url}/login", data={"username": MARKER + "a" * (2 * MiB), "password": "x"}, timeout=30
    )
    assert r.status_code == 413 and "text/html" in r.headers["content-type"]
    assert MARKER not in r.text


def test_lexicon_upload_has_its_own_larger_limit(world: tuple[Seeded, WebServer]) -> None:
    """The lexicon (an upload) may exceed 1 MiB; past ``web.max_upload_bytes`` (8 MiB) it is refused."""
    _seeded, srv = world
    with _login(srv.url) as c:
        ok = c.put("/api/v1/admin/lexicon", json={"text": "# " + "あ" * 400_000})
        assert ok.status_code != 413 and len(ok.request.content) > MiB
        big = c.put(
            "/api/v1/admin/lexicon", content=_stream(9 * MiB), headers={"content-type": "application/json"}
        )
        assert big.status_code == 413 and "8 MiB" in big.json()["detail"]["en"]


def test_validation_errors_never_repeat_the_input(world: tuple[Seeded, WebServer]) -> None:
    """422 names the field and the rule, never the submitted value (nor a password)."""
    _seeded, srv = world
    secret = "hunter2-" + MARKER
    r = httpx.post(f"{srv.url}/api/v1/auth/login", json={"name": MARKER * 1000, "password": secret})
    assert r.status_code == 422
    assert MARKER not in r.text and len(r.content) < 2000
    err = r.json()["detail"][0]
    assert err["loc"] == ["body", "name"] and "128" in err["msg"] and set(err) == {"loc", "msg", "type"}
    # keys the client chose are cut short, and at most 20 errors are listed
    body = [{"k" * 500 + MARKER: i} for i in range(1000)]
    r = httpx.post(f"{srv.url}/api/v1/auth/login", json=body)
    assert r.status_code == 422 and MARKER not in r.text and len(r.json()["detail"]) <= 20
    # the page form too
    r = httpx.post(f"{srv.url}/login", data={"username": MARKER * 100, "password": secret})
    assert r.status_code == 422 and MARKER not in r.text and "hunter2" not in r.text


def _api_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path (FastAPI keeps included routers nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes, prefix + route.include_context.prefix)


def _int_routes(ak: Akashi) -> list[str]:
    """Every GET route whose path parameters are all integers, each replaced by a huge number."""
    from akashi.web.app import create_app

    out = []
    for path, route in _api_routes(create_app(ak).router.routes):
        params = route.dependant.path_params
        if (
            "GET" not in (route.methods or set())
            or not params
            or any(p.field_info.annotation is not int for p in params)
        ):
            continue
        url = path
        for p in params:
            url = url.replace("{" + p.alias + "}", "99999999999999999999999")
        out.append(url)
    return out


def test_huge_ids_answer_404_not_500(world: tuple[Seeded, WebServer]) -> None:
    """Every page and API route with a numeric ID: beyond 64 bits it is an unknown record (404)."""
    seeded, srv = world
    paths = _int_routes(seeded.ak)
    assert "/calls/99999999999999999999999" in paths and len(paths) > 5
    with _login(srv.url) as c:
        for path in paths:
            r = c.get(path, follow_redirects=False)
            assert r.status_code == 404, (path, r.status_code, r.text[:200])
        assert c.get("/calls/-99999999999999999999999").status_code == 404
        assert c.post("/api/v1/calls/99999999999999999999999/notes", json={"text": "x"}).status_code == 404
        # an ordinary unknown id is still a plain 404, a known one still works
        assert c.get("/api/v1/calls/987654").status_code == 404
        assert c.get(f"/api/v1/calls/{seeded.calls['tanaka_call']}").status_code == 200


def test_call_page_json_is_escaped_for_script_blocks(world: tuple[Seeded, WebServer]) -> None:
    """Flag words containing ``</script>`` stay inside the JSON block (``tojson``, not ``|safe``)."""
    seeded, srv = world
    evil = "</script><script>alert('x')</script><!--"
    cid = seeded.calls["suzuki_call"]
    with session_scope(seeded.ak.engine) as s:
        s.add(
            CallFlag(
                call_id=cid, category="暴言", source="lexicon", words=evil, channel="customer",
                start_s=0.1, end_s=0.5, score=0.9,
            )
        )  # fmt: skip
    with _login(srv.url) as c:
        html = c.get(f"/calls/{cid}").text
    assert "<script>alert" not in html
    m = re.search(r'<script type="application/json" id="player-data">(.*?)</script>', html, re.S)
    assert m is not None
    data = json.loads(m.group(1))
    assert [f["words"] for f in data["flags"]] == [evil]


def test_no_template_renders_json_with_safe() -> None:
    """``|safe`` in a template is how JSON broke out of its script block: none is left."""
    templates = Path(__file__).resolve().parents[2] / "src/akashi/web/templates"
    found = [
        f"{p.name}:{n}"
        for p in sorted(templates.glob("*.html"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\|\s*safe\b", line)
    ]
    assert found == []
