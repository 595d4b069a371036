"""Who may export camera footage: refusals are audited; bad ranges and empty ranges are clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from akashi.access.audit import entries_for
from akashi.access.principal import Principal
from akashi.cameras import records
from akashi.cameras.export import export_cameras
from akashi.cameras.records import CameraSpec
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.errors import AccessDenied, ConfigError, NotFoundError
from tests.cameras.test_retention import T0


def test_export_refusals_are_audited(home: Path, tmp_path: Path) -> None:
    with Akashi.open(home) as ak:
        cam_id = records.ensure_camera(
            ak.engine, CameraSpec("受付", "tokyo", "rtsp://h/x", 4.0, True, "config")
        )
        tokyo = records.site_id(ak.engine, "tokyo")
        osaka = records.site_id(ak.engine, "osaka")
        assert tokyo is not None and osaka is not None
        out = tmp_path / "x.zip"
        cases = [
            Principal(11, "op", "operator", frozenset({tokyo}), None),  # operators never see cameras
            Principal(12, "mgr-osaka", "manager", frozenset({osaka}), None),  # another site
        ]
        for who in cases:
            with pytest.raises(AccessDenied):
                export_cameras(ak, who, ["受付"], start=T0, end=T0 + timedelta(hours=1), out=out)
        with session_scope(ak.engine) as s:
            trail = entries_for(s, "camera", cam_id)
        assert [(e["user"], e["outcome"]) for e in trail] == [("op", "denied"), ("mgr-osaka", "denied")]
        assert not out.exists()
        admin = Principal.system("test")
        with pytest.raises(NotFoundError):  # nothing recorded in that hour
            export_cameras(ak, admin, ["受付"], start=T0, end=T0 + timedelta(hours=1), out=out)
        with pytest.raises(NotFoundError):
            export_cameras(ak, admin, ["裏口"], start=T0, end=T0 + timedelta(hours=1), out=out)
        with pytest.raises(ConfigError):
            export_cameras(ak, admin, ["受付"], start=T0, end=T0, out=out)
