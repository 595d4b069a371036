"""Configuration: file + environment, refusal of unknown keys with the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from akashi.config import load_settings
from akashi.errors import ConfigError


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "akashi.toml").write_text(text, encoding="utf-8")
    return home


def test_defaults_without_file(tmp_path: Path) -> None:
    s = load_settings(tmp_path, environ={})
    assert s.home == tmp_path.resolve()
    assert s.database_url == f"sqlite:///{tmp_path.resolve() / 'akashi.db'}"
    assert s.store.backend == "local"
    assert s.web.listen == "127.0.0.1:8080"


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    home = write(tmp_path, '[database]\nurl = ""\n\n[store]\nbackend = "local"\nbakend = "s3"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(home, environ={})
    msg = str(err.value)
    assert "store.bakend" in msg
    assert "akashi.toml:6" in msg
    assert "unknown key" in msg


def test_unknown_section(tmp_path: Path) -> None:
    home = write(tmp_path, "[nonsense]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"nonsense.*akashi.toml:1"):
        load_settings(home, environ={})


def test_bad_value_in_array_of_tables(tmp_path: Path) -> None:
    home = write(tmp_path, '[[cameras]]\nname = "受付"\nurl = "rtsp://x/y"\nsegment_seconds = 0.1\n')
    with pytest.raises(ConfigError, match=r"cameras\.0\.segment_seconds"):
        load_settings(home, environ={})


def test_environment_overrides_file(tmp_path: Path) -> None:
    home = write(tmp_path, '[web]\nlisten = "127.0.0.1:8080"\n')
    s = load_settings(home, environ={"AKASHI_WEB__LISTEN": "0.0.0.0:9000", "AKASHI_JOBS__WORKERS": "3"})
    assert s.web.listen == "0.0.0.0:9000"
    assert s.jobs.workers == 3


def test_environment_unknown_key_names_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AKASHI_WEB__LISTN"):
        load_settings(tmp_path, environ={"AKASHI_WEB__LISTN": "x"})


def test_non_config_variables_are_ignored(tmp_path: Path) -> None:
    s = load_settings(
        tmp_path, environ={"AKASHI_REQUIRE_INTEROP": "1", "AKASHI_HOME": "/x", "AKASHI_TEST_PG": "y"}
    )
    assert s.jobs.workers == 1


def test_broken_toml_is_refused(tmp_path: Path) -> None:
    home = write(tmp_path, "[web\nlisten=1\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_settings(home, environ={})


def test_secret_is_not_in_repr(tmp_path: Path) -> None:
    home = write(
        tmp_path, '[store]\nbackend = "s3"\n[store.s3]\nbucket = "evidence"\nsecret_key = "TOPSECRET123"\n'
    )
    s = load_settings(home, environ={})
    assert s.store.s3 is not None
    assert "TOPSECRET123" not in repr(s)
    assert s.store.s3.secret_key.get_secret_value() == "TOPSECRET123"
