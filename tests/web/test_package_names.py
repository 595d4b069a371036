"""Evidence packages name each original exactly once under ``media/`` (never ``media/media/...``).

The manifest, ``SHA256SUMS`` and ``metadata.json`` name the same files the zip holds, so a lawyer
following the README finds every file it lists.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from akashi.db.base import session_scope
from akashi.db.models import Call, EvidenceObject
from akashi.store.export import check_package
from tests.web.conftest import Seeded, api_login

FIXED = [
    "README.txt",
    "SHA256SUMS",
    "SHA256SUMS.sig",
    "audit.json",
    "manifest.json",
    "manifest.sig",
    "metadata.json",
    "public_key.pem",
]


def recording(seeded: Seeded, key: str) -> tuple[int, EvidenceObject]:
    """A seeded call's id and its recording's row."""
    call_id = seeded.calls[key]
    with session_scope(seeded.ak.engine) as s:
        call = s.get(Call, call_id)
        assert call is not None and call.media_object_id is not None
        obj = s.get(EvidenceObject, call.media_object_id)
        assert obj is not None and obj.filename
        s.expunge(obj)
    return call_id, obj


def members(path: Path) -> tuple[list[str], dict[str, Any], dict[str, Any], str]:
    """The package's member names (checkpoint files left out), manifest, metadata and SHA256SUMS."""
    with zipfile.ZipFile(path) as z:
        names = sorted(n for n in z.namelist() if not n.startswith("checkpoint/"))
        return (
            names,
            json.loads(z.read("manifest.json")),
            json.loads(z.read("metadata.json")),
            z.read("SHA256SUMS").decode(),
        )


def listed(manifest: dict[str, Any]) -> set[str]:
    return {str(f["name"]) for f in manifest["files"]}


def test_call_package_member_names(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    call_id, obj = recording(seeded_sqlite, "tanaka_call")
    with TestClient(_app(seeded_sqlite), base_url="http://testserver") as client:
        csrf = api_login(client, "boss_tokyo")
        r = client.post(f"/api/v1/calls/{call_id}/export", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
    pkg = tmp_path / "call.zip"
    pkg.write_bytes(r.content)
    assert check_package(pkg).ok
    original = f"media/call-{call_id}-{obj.filename}"
    names, manifest, metadata, sums = members(pkg)
    # the seeded call has a transcript: its readable copies are derived from the original
    assert names == sorted([*FIXED, original, "derived/transcript.pdf", "derived/transcript.txt"])
    assert {d["from"] for d in manifest["derived"]} == {original}
    assert original in listed(manifest) and not any(n.startswith("media/media/") for n in listed(manifest))
    assert f"  {original}\n" in sums and "media/media/" not in sums
    assert metadata["call"]["evidence_object"]["file"] == original
    assert metadata["call"]["evidence_object"]["sha256"] == obj.sha256


def test_incident_package_member_names(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    ids = {key: recording(seeded_sqlite, key) for key in ("tanaka_call", "suzuki_call")}
    with TestClient(_app(seeded_sqlite), base_url="http://testserver") as client:
        h = {"X-CSRF-Token": api_login(client, "boss_tokyo")}
        inc = client.post(
            "/api/v1/incidents", json={"title": "名前の確認", "site": "tokyo"}, headers=h
        ).json()
        for call_id, _ in ids.values():
            r = client.post(f"/api/v1/incidents/{inc['id']}/items", json={"call_id": call_id}, headers=h)
            assert r.status_code == 201, r.text
        r = client.post(f"/api/v1/incidents/{inc['id']}/export", headers=h)
        assert r.status_code == 200, r.text
    pkg = tmp_path / "incident.zip"
    pkg.write_bytes(r.content)
    assert check_package(pkg).ok
    originals = sorted(f"media/call-{call_id}-{obj.filename}" for call_id, obj in ids.values())
    names, manifest, metadata, sums = members(pkg)
    # the seeded tanaka call has a transcript: the incident package carries its readable copies too
    tanaka = ids["tanaka_call"][0]
    readable = [f"derived/call-{tanaka}-transcript.pdf", f"derived/call-{tanaka}-transcript.txt"]
    assert names == sorted([*FIXED, *originals, *readable])
    assert set(originals) <= listed(manifest) and "media/media/" not in sums
    assert sorted(c["evidence_object"]["file"] for c in metadata["calls"]) == originals


def _app(seeded: Seeded) -> Any:
    from akashi.web.app import create_app

    return create_app(seeded.ak)
