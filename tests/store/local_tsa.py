"""A real RFC 3161 time-stamping authority on loopback: ``openssl ts -reply`` behind a tiny HTTP server.

A throwaway root CA and a TSA certificate (critical extended key usage ``timeStamping``) are made with
``openssl`` in a temporary folder; each ``POST`` with ``application/timestamp-query`` is answered by
running ``openssl ts -reply`` on it. Tokens can then be checked with ``openssl ts -verify``.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import require_binary

_CNF = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.pem
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
[ tsa_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["timeout", "60", "openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(root: Path, name: str) -> Path:
    """A self-signed EC root in ``root`` (``<name>.pem``, ``<name>.key``); returns the certificate."""
    root.mkdir(parents=True, exist_ok=True)
    _openssl(
        root, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "3", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return root / f"{name}.pem"


class LocalTsa:
    """The TSA's files, its HTTP server and what it was asked."""

    def __init__(self, root: Path) -> None:
        require_binary("openssl")
        self.root = root
        self.ca = make_ca(root, "test-tsa-root")
        (root / "tsa.cnf").write_text(_CNF.format(dir=root))
        (root / "serial").write_text("01\n")
        _openssl(
            root, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA",
        )  # fmt: skip
        _openssl(
            root, "x509", "-req", "-in", "tsa.csr", "-CA", "test-tsa-root.pem", "-CAkey", "test-tsa-root.key",
            "-CAcreateserial", "-out", "tsa.pem", "-days", "3", "-extfile", "tsa.cnf", "-extensions", "tsa_ext",
        )  # fmt: skip
        self.queries = 0
        self.fail_with: int | None = None  # answer this HTTP status instead (an outage)
        self._lock = threading.Lock()
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if tsa.fail_with is not None:
                    self.send_response(tsa.fail_with)
                    self.end_headers()
                    return
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_response(415)
                    self.end_headers()
                    return
                reply = tsa.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The TSA's URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/tsa"

    def reply(self, query: bytes) -> bytes:
        """Run ``openssl ts -reply`` on one query."""
        with self._lock:
            self.queries += 1
            q, r = self.root / "q.tsq", self.root / "r.tsr"
            q.write_bytes(query)
            _openssl(self.root, "ts", "-reply", "-config", "tsa.cnf", "-queryfile", "q.tsq", "-out", "r.tsr")
            return r.read_bytes()

    def verify(self, tsr: Path, data: Path) -> subprocess.CompletedProcess[str]:
        """``openssl ts -verify`` of a response over a file, against this TSA's root."""
        return subprocess.run(
            ["timeout", "60", "openssl", "ts", "-verify", "-in", str(tsr), "-data", str(data), "-CAfile", str(self.ca)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    def start(self) -> None:
        """Serve in a thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    """A running local TSA."""
    tsa = LocalTsa(tmp_path / "tsa")
    tsa.start()
    try:
        yield tsa
    finally:
        tsa.stop()
