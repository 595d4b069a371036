"""RFC 3161: our request and response handling against a real ``openssl ts`` TSA on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from akashi.store import tsa
from tests.store.local_tsa import LocalTsa, local_tsa, make_ca

__all__ = ["local_tsa"]


def ca_of(path: Path) -> list[object]:
    return list(tsa.load_ca(path.read_bytes()))


def test_time_stamp_is_granted_checked_and_verifies_with_openssl(local_tsa: LocalTsa, tmp_path: Path) -> None:
    data = b'{"ledger":{"seq":3}}'
    der, stamp = tsa.timestamp(local_tsa.url, data, 10.0, tsa.load_ca(local_tsa.ca.read_bytes()))
    assert stamp.chain_verified and stamp.policy == "1.2.3.4.1"
    assert local_tsa.queries == 1
    (tmp_path / "d.json").write_bytes(data)
    (tmp_path / "d.tsr").write_bytes(der)
    ok = local_tsa.verify(tmp_path / "d.tsr", tmp_path / "d.json")
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout
    # The same response over other bytes fails, with us and with openssl.
    (tmp_path / "other.json").write_bytes(data + b" ")
    assert local_tsa.verify(tmp_path / "d.tsr", tmp_path / "other.json").returncode != 0
    with pytest.raises(tsa.TsaError, match="not over this data"):
        tsa.check_response(der, data + b" ")


def test_wrong_nonce_foreign_ca_and_garbage_are_refused(local_tsa: LocalTsa, tmp_path: Path) -> None:
    data = b"checkpoint body"
    q = tsa.build_query(data)
    der = tsa.post_query(local_tsa.url, q.der, 10.0)
    assert tsa.check_response(der, data, nonce=q.nonce).chain_verified is False  # no CA given: hash only
    with pytest.raises(tsa.TsaError, match="nonce"):
        tsa.check_response(der, data, nonce=(q.nonce or 0) + 1)
    stranger = make_ca(tmp_path / "other", "someone-else")
    with pytest.raises(tsa.TsaError, match="signature not verified"):
        tsa.check_response(der, data, ca=tsa.load_ca(stranger.read_bytes()))
    for bad in (b"", der[: len(der) // 2], b"\x30\x03\x02\x01\x00" + der):
        with pytest.raises(tsa.TsaError, match="RFC 3161"):
            tsa.check_response(bad, data)


def test_tsa_outage_is_a_clear_error(local_tsa: LocalTsa) -> None:
    local_tsa.fail_with = 503
    with pytest.raises(tsa.TsaError, match="HTTP 503"):
        tsa.timestamp(local_tsa.url, b"x", 5.0, None)
    with pytest.raises(tsa.TsaError, match="cannot reach the TSA"):
        tsa.timestamp("http://127.0.0.1:9/tsa", b"x", 2.0, None)
