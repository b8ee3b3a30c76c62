"""The generator's only disk IO: atomic 0600 writes, timestamped backups, the secret-manager shim."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from generator.build import AUTH_MODULE, HOOKS_MODULE, SECRET_MANAGER_CLASS, SECRET_MANAGER_MODULE

BACKUP_MARK = ".backup."
SHIM = f'''"""Loaded by LiteLLM (general_settings.key_management_system: custom); written by llm-admin."""

from app.proxy.secrets import {SECRET_MANAGER_CLASS}

__all__ = ["{SECRET_MANAGER_CLASS}"]
'''


HOOKS_SHIM = '''"""Loaded by LiteLLM (litellm_settings.callbacks); written by llm-admin."""

from app.proxy.hooks import hooks

__all__ = ["hooks"]
'''


AUTH_SHIM = '''"""Loaded by LiteLLM (general_settings.custom_auth); written by llm-admin."""

from app.proxy.auth import user_api_key_auth

__all__ = ["user_api_key_auth"]
'''


class WriteError(Exception):
    """The file could not be written; the previous one is intact."""


def _explain(path: Path, exc: OSError) -> WriteError:
    reasons = {
        errno.EACCES: "permission denied; check the directory's owner and mode",
        errno.EPERM: "permission denied; check the directory's owner and mode",
        errno.EROFS: "the file system is read-only; point LLM_ADMIN_CONFIG_PATH at a writable place",
        errno.ENOSPC: "the disk is full; free some space",
        errno.EDQUOT: "the disk quota is exhausted; free some space",
        errno.ENOENT: "the directory does not exist; create it or fix LLM_ADMIN_CONFIG_PATH",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return WriteError(f"cannot write {path}: {reason}. The previous file is unchanged.")


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def write_atomic(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Temp file in the same directory, fsync, rename: readers see the old file or the new one."""
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise _explain(path, exc) from None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


def backup_name(path: Path, at: datetime) -> Path:
    return path.with_name(f"{path.name}{BACKUP_MARK}{at:%Y%m%dT%H%M%S.%fZ}")


def list_backups(path: Path) -> list[Path]:
    """Backups of path, oldest first."""
    return sorted(path.parent.glob(f"{path.name}{BACKUP_MARK}*"))


def write_with_backup(path: Path, text: str, *, at: datetime, keep: int) -> Path | None:
    """Back up the current file (if any), then write text atomically; keep the newest `keep` backups."""
    backup: Path | None = None
    if path.exists():
        backup = backup_name(path, at)
        try:
            shutil.copy2(path, backup)
            os.chmod(backup, 0o600)
        except OSError as exc:
            if backup.exists():
                backup.unlink()
            raise _explain(backup, exc) from None
    write_atomic(path, text)
    for old in list_backups(path)[: max(0, len(list_backups(path)) - keep)]:
        old.unlink(missing_ok=True)
    return backup


def write_shims(config_path: Path) -> list[Path]:
    """The small modules LiteLLM loads from the config's directory: our secret manager, hooks and auth."""
    written = []
    for module, text in ((SECRET_MANAGER_MODULE, SHIM), (HOOKS_MODULE, HOOKS_SHIM), (AUTH_MODULE, AUTH_SHIM)):
        shim = config_path.with_name(f"{module}.py")
        if read_text(shim) != text:
            write_atomic(shim, text, mode=0o644)
        written.append(shim)
    return written


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """KEY=value lines in a 0600 file, for deployments that run the stock LiteLLM image.

    Values are written as they are: `docker run --env-file` takes everything after '=' literally.
    """
    multiline = sorted(key for key, value in values.items() if "\n" in value or "\r" in value)
    if multiline:
        raise WriteError(
            f"cannot write {path}: {', '.join(multiline)} span several lines, which an env file cannot "
            "hold; give those providers an environment variable instead of a stored secret"
        )
    lines = [f"{key}={value}" for key, value in sorted(values.items())]
    write_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
