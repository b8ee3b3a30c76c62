"""generator.files under faults: the old config survives every failed write, and says why."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from generator import files

OLD = "model_list: []\n# the file the proxy runs now\n"
NEW = "model_list:\n- model_name: new\n"
AT = datetime(2025, 1, 15, 9, 30, 0, 123456, tzinfo=UTC)
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "proxy" / "litellm-config.yaml"
    path.parent.mkdir()
    path.write_text(OLD)
    path.chmod(0o644)  # as a hand-written file usually is
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


@pytest.fixture
def immutable_dir(config: Path) -> Iterator[Path]:
    """The config's directory made immutable (chattr +i), which stops even root from writing in it."""
    done = subprocess.run(["chattr", "+i", str(config.parent)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")
    try:
        yield config
    finally:
        subprocess.run(["chattr", "-i", str(config.parent)], check=True)


@pytest.mark.skipif(IS_ROOT, reason="root ignores directory modes; see the immutable and mkstemp tests")
def test_read_only_directory_says_permission_denied_and_keeps_the_old_file(config: Path) -> None:
    config.parent.chmod(0o500)
    try:
        with pytest.raises(files.WriteError, match="permission denied") as err:
            files.write_with_backup(config, NEW, at=AT, keep=3)
    finally:
        config.parent.chmod(0o700)
    assert str(config) in str(err.value) and "The previous file is unchanged" in str(err.value)
    assert config.read_text() == OLD
    assert _leftovers(config) == []


def test_immutable_directory_says_permission_denied_and_keeps_the_old_file(immutable_dir: Path) -> None:
    with pytest.raises(files.WriteError, match="permission denied"):
        files.write_with_backup(immutable_dir, NEW, at=AT, keep=3)
    assert immutable_dir.read_text() == OLD
    assert _leftovers(immutable_dir) == []


def test_permission_denied_creating_the_temp_file_keeps_the_old_file(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what a read-only directory does to a non-root user, for runs as root
    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(files.WriteError) as err:
        files.write_atomic(config, NEW)
    assert str(err.value) == (
        f"cannot write {config}: permission denied; check the directory's owner and mode. "
        "The previous file is unchanged."
    )
    assert config.read_text() == OLD


def test_read_only_file_system_is_named(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(files.WriteError, match="the file system is read-only"):
        files.write_atomic(config, NEW)
    assert config.read_text() == OLD


def test_full_disk_says_so_keeps_the_old_bytes_and_leaves_no_temp_file(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(files.WriteError, match="the disk is full; free some space"):
        files.write_atomic(config, NEW)
    assert config.read_bytes() == OLD.encode()
    assert _leftovers(config) == []


def test_full_disk_while_writing_the_text_keeps_the_old_bytes(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    def fdopen(fd: int, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        handle = real_fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]

        def write(text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        handle.write = write
        return handle

    monkeypatch.setattr(os, "fdopen", fdopen)
    with pytest.raises(files.WriteError, match="the disk is full"):
        files.write_with_backup(config, NEW, at=AT, keep=3)
    assert config.read_bytes() == OLD.encode()
    assert [p for p in _leftovers(config) if ".tmp" in p] == []


def test_full_disk_while_backing_up_leaves_no_partial_backup(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_copy(src: Path, dst: Path, **kwargs: object) -> None:
        Path(dst).write_text(OLD[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copy2", half_copy)
    with pytest.raises(files.WriteError, match="the disk is full"):
        files.write_with_backup(config, NEW, at=AT, keep=3)
    assert config.read_text() == OLD
    assert _leftovers(config) == []


def test_crash_between_temp_write_and_rename_keeps_the_old_file_and_cleans_up(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def crash(src: str, dst: object) -> None:
        seen.append(Path(src).read_text())  # the new text was fully written before the rename
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(files.WriteError, match="Input/output error"):
        files.write_atomic(config, NEW)
    assert seen == [NEW]
    assert config.read_text() == OLD
    assert _leftovers(config) == []


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(files.WriteError, match="the directory does not exist"):
        files.write_atomic(tmp_path / "nowhere" / "litellm-config.yaml", NEW)


def test_written_file_and_backup_are_0600(config: Path) -> None:
    backup = files.write_with_backup(config, NEW, at=AT, keep=3)
    assert backup is not None
    assert (config.read_text(), _mode(config)) == (NEW, 0o600)
    assert (backup.read_text(), _mode(backup)) == (OLD, 0o600)


def test_backup_is_named_by_utc_timestamp(config: Path) -> None:
    backup = files.write_with_backup(config, NEW, at=AT, keep=3)
    assert backup == config.with_name("litellm-config.yaml.backup.20250115T093000.123456Z")


def test_first_write_makes_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "litellm-config.yaml"
    assert files.write_with_backup(path, NEW, at=AT, keep=3) is None
    assert (path.read_text(), _mode(path), files.list_backups(path)) == (NEW, 0o600, [])


def test_only_the_newest_backups_are_kept(config: Path) -> None:
    moments = [AT + timedelta(minutes=i) for i in range(6)]
    for i, moment in enumerate(moments):
        files.write_with_backup(config, f"revision: {i + 2}\n", at=moment, keep=3)
    assert [p.name for p in files.list_backups(config)] == [
        f"litellm-config.yaml.backup.{m:%Y%m%dT%H%M%S.%fZ}" for m in moments[-3:]
    ]
    assert [p.read_text() for p in files.list_backups(config)] == [
        "revision: 4\n",
        "revision: 5\n",
        "revision: 6\n",
    ]
    assert config.read_text() == "revision: 7\n"


def test_backups_of_another_file_in_the_directory_are_left_alone(config: Path) -> None:
    other = config.with_name("other.yaml.backup.20200101T000000.000000Z")
    other.write_text("x")
    files.write_with_backup(config, NEW, at=AT, keep=0)
    assert other.exists()
    assert files.list_backups(config) == []


def test_env_file_is_0600_with_values_written_literally_for_docker_env_file(tmp_path: Path) -> None:
    path = tmp_path / "proxy.env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    files.write_env_file(
        path, {"SPACE": "two words", "PLAIN": "sk-abc_123", "QUOTE": "it's $HOME", "EMPTY": ""}
    )
    assert _mode(path) == 0o600
    # `docker run --env-file` takes everything after the first '=' as the value, quotes included
    assert path.read_text() == "EMPTY=\nPLAIN=sk-abc_123\nQUOTE=it's $HOME\nSPACE=two words\n"


def test_env_file_refuses_a_multi_line_value_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "proxy.env"
    path.write_text("OLD=1\n")
    secret = "-----BEGIN KEY-----\nabc\n-----END KEY-----"
    with pytest.raises(files.WriteError, match="B_JSON span several lines") as err:
        files.write_env_file(path, {"A": "x", "B_JSON": secret})
    assert "BEGIN KEY" not in str(err.value)
    assert path.read_text() == "OLD=1\n"


def test_empty_env_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "proxy.env"
    files.write_env_file(path, {})
    assert (path.read_text(), _mode(path)) == ("", 0o600)


def test_shims_are_written_once_next_to_the_config(config: Path) -> None:
    secrets_shim, hooks_shim, auth_shim = files.write_shims(config)
    assert secrets_shim == config.with_name("llm_admin_secrets.py")
    assert "from app.proxy.secrets import LlmAdminSecretManager" in secrets_shim.read_text()
    assert hooks_shim == config.with_name("llm_admin_hooks.py")
    assert "from app.proxy.hooks import hooks" in hooks_shim.read_text()
    assert auth_shim == config.with_name("llm_admin_auth.py")
    assert "from app.proxy.auth import user_api_key_auth" in auth_shim.read_text()
    first = secrets_shim.stat().st_mtime_ns
    assert files.write_shims(config) == [secrets_shim, hooks_shim, auth_shim]
    assert secrets_shim.stat().st_mtime_ns == first
