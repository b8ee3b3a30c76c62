"""Key ring, AES-256-GCM encryption of stored secrets, key files and masking."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.errors import SecretKeyError
from app.settings import Settings

KEY_SETTING = "LLM_ADMIN_SECRET_KEYS"
_FORMAT = "v1"
_NONCE_BYTES = 12


def generate_key() -> str:
    """A new random 256-bit key, URL-safe base64."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def digest(secret: str) -> str:
    """What is stored of a bearer secret (a caller key, an API token, a dashboard session's cookie)
    and looked up by: the SHA-256 of the whole value, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key, recorded in every ciphertext it makes."""
    return hashlib.sha256(b"llm-admin-key-id:" + key).hexdigest()[:12]


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.encode())
    except (ValueError, TypeError) as exc:
        raise SecretKeyError(f"{KEY_SETTING}: a key is not valid base64 ({exc})") from None
    if len(raw) != 32:
        raise SecretKeyError(
            f"{KEY_SETTING}: each key must be 32 bytes of URL-safe base64; "
            "make one with `llm-admin keys generate`"
        )
    return raw


@dataclass(frozen=True)
class KeyRing:
    """Keys newest first: the first encrypts, any of them decrypts."""

    keys: tuple[bytes, ...]

    @classmethod
    def from_strings(cls, texts: tuple[str, ...] | list[str]) -> KeyRing:
        if not texts:
            raise SecretKeyError(f"{KEY_SETTING} is empty; set at least one key")
        return cls(tuple(_decode_key(t) for t in texts))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id(k) for k in self.keys)

    @property
    def current_id(self) -> str:
        return key_id(self.keys[0])

    def encrypt(self, plaintext: str) -> str:
        """Encrypt with the newest key; the result names the key that made it."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, plaintext.encode(), _FORMAT.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{_FORMAT}:{self.current_id}:{body}"

    def can_decrypt(self, token: str) -> bool:
        return ciphertext_key_id(token) in self.ids

    def decrypt(self, token: str) -> str:
        """Decrypt with whichever key made the token."""
        kid = ciphertext_key_id(token)
        for key in self.keys:
            if key_id(key) == kid:
                raw = base64.urlsafe_b64decode(token.split(":", 2)[2].encode())
                try:
                    plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _FORMAT.encode())
                except Exception:
                    raise SecretKeyError(
                        f"a stored secret made by key {kid} failed authentication; "
                        "the database row was altered or is corrupt"
                    ) from None
                return plain.decode()
        raise SecretKeyError(
            f"{KEY_SETTING} has no key {kid}; add the key that encrypted the secret "
            "(older keys go after the newest)"
        )


def ciphertext_key_id(token: str) -> str:
    """The id of the key that made a ciphertext."""
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != _FORMAT:
        raise SecretKeyError("a stored secret is not in the v1 format; the row is corrupt")
    return parts[1]


def load_key_ring(settings: Settings, *, create: bool = True) -> KeyRing:
    """The key ring from the setting, or from the embedded key file (created 0600 on first use)."""
    if settings.secret_keys:
        return KeyRing.from_strings(settings.secret_keys)
    path = settings.key_file
    if path.exists():
        return KeyRing.from_strings(read_key_file(path))
    if not settings.is_embedded or not create:
        raise SecretKeyError(f"{KEY_SETTING} is not set and no key file exists at {path}")
    write_key_file(path, [generate_key()])
    return KeyRing.from_strings(read_key_file(path))


def load_master_key(settings: Settings) -> str | None:
    """LITELLM_MASTER_KEY, or in embedded mode a generated one kept in a 0600 file next to the key ring."""
    if settings.master_key:
        return settings.master_key
    if not settings.is_embedded:
        return None
    path = settings.data_dir / "master.key"
    if not path.exists():
        write_key_file(path, ["sk-" + secrets.token_urlsafe(32)])
    return read_key_file(path)[0]


def read_key_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def write_key_file(path: Path, keys: list[str]) -> None:
    """Write keys newest first to a 0600 file, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(keys) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def mask(secret: str | None) -> str:
    """Show the first and last three characters of a long secret; hide a short one entirely."""
    if not secret:
        return ""
    if len(secret) >= 12:
        return f"{secret[:3]}…{secret[-3:]}"
    return "•" * 8


def random_password() -> str:
    return secrets.token_urlsafe(12)
