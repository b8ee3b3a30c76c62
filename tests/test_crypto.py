"""Key ring: encrypt/decrypt, key ids, rotation-friendly rings, tampering, masking, key file, settings."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from app.crypto import KEY_SETTING, KeyRing, ciphertext_key_id, generate_key, key_id, load_key_ring, mask
from app.errors import SecretKeyError, SettingsError
from app.settings import load_settings

SECRET = "sk-proj-Zq8v2LmN4pR7tX1wY3bC"


def test_encrypt_then_decrypt_gives_the_plaintext_back() -> None:
    ring = KeyRing.from_strings([generate_key()])
    token = ring.encrypt(SECRET)
    assert SECRET not in token
    assert ring.decrypt(token) == SECRET


def test_each_encryption_uses_a_fresh_nonce() -> None:
    ring = KeyRing.from_strings([generate_key()])
    assert ring.encrypt(SECRET) != ring.encrypt(SECRET)


def test_ciphertext_records_the_newest_key_of_the_ring() -> None:
    newest, older = generate_key(), generate_key()
    ring = KeyRing.from_strings([newest, older])
    token = ring.encrypt(SECRET)
    assert ciphertext_key_id(token) == key_id(base64.urlsafe_b64decode(newest))
    assert ciphertext_key_id(token) == ring.current_id
    assert ring.current_id != ring.ids[1]


def test_a_ring_decrypts_what_an_older_key_in_it_made() -> None:
    older, newest = generate_key(), generate_key()
    token = KeyRing.from_strings([older]).encrypt(SECRET)
    assert KeyRing.from_strings([newest, older]).decrypt(token) == SECRET


def test_missing_key_is_an_error_naming_the_setting() -> None:
    token = KeyRing.from_strings([generate_key()]).encrypt(SECRET)
    other = KeyRing.from_strings([generate_key()])
    assert other.can_decrypt(token) is False
    with pytest.raises(SecretKeyError, match=KEY_SETTING) as err:
        other.decrypt(token)
    assert ciphertext_key_id(token) in str(err.value)
    assert KEY_SETTING == "LLM_ADMIN_SECRET_KEYS"


def test_tampered_ciphertext_fails_authentication() -> None:
    ring = KeyRing.from_strings([generate_key()])
    version, kid, body = ring.encrypt(SECRET).split(":", 2)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 0x01
    tampered = f"{version}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(SecretKeyError, match="failed authentication"):
        ring.decrypt(tampered)


def test_a_token_not_in_the_v1_format_is_reported_as_corrupt() -> None:
    with pytest.raises(SecretKeyError, match="not in the v1 format"):
        ciphertext_key_id("plain-text-that-was-never-encrypted")


def test_a_key_of_the_wrong_length_is_refused_with_the_setting_named() -> None:
    short = base64.urlsafe_b64encode(b"x" * 16).decode()
    with pytest.raises(SecretKeyError, match=f"{KEY_SETTING}: each key must be 32 bytes"):
        KeyRing.from_strings([short])


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("sk-abcdefghijklmnopxyz", "sk-…xyz"),
        ("123456789012", "123…012"),
        ("12345678901", "••••••••"),
        ("abc", "••••••••"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_shows_three_and_three_only_for_secrets_of_twelve_or_more(
    secret: str | None, shown: str
) -> None:
    assert mask(secret) == shown


def test_embedded_mode_creates_a_0600_key_file_when_no_key_is_set(tmp_path: Path) -> None:
    settings = load_settings({"LLM_ADMIN_DATA_DIR": str(tmp_path / "data")})
    assert settings.is_embedded and settings.secret_keys == ()
    ring = load_key_ring(settings)
    assert settings.key_file == tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(settings.key_file.stat().st_mode) == 0o600
    assert load_key_ring(settings).ids == ring.ids


def test_without_keys_a_server_database_does_not_invent_a_key_file(tmp_path: Path) -> None:
    settings = load_settings(
        {"LLM_ADMIN_DATA_DIR": str(tmp_path), "LLM_ADMIN_DATABASE_URL": "postgresql+psycopg://db/x"}
    )
    with pytest.raises(SecretKeyError, match=KEY_SETTING):
        load_key_ring(settings)
    assert not settings.key_file.exists()


def test_keys_from_the_setting_win_over_the_key_file(tmp_path: Path) -> None:
    key = generate_key()
    settings = load_settings({"LLM_ADMIN_DATA_DIR": str(tmp_path), "LLM_ADMIN_SECRET_KEYS": f" {key} "})
    assert load_key_ring(settings).ids == KeyRing.from_strings([key]).ids
    assert not settings.key_file.exists()


def test_production_refuses_a_placeholder_master_key() -> None:
    environ = {
        "LLM_ADMIN_ENV": "production",
        "LITELLM_MASTER_KEY": "sk-1234",
        "LLM_ADMIN_SECRET_KEYS": generate_key(),
    }
    with pytest.raises(SettingsError, match="LITELLM_MASTER_KEY"):
        load_settings(environ)


def test_production_refuses_missing_secret_keys() -> None:
    environ = {"LLM_ADMIN_ENV": "production", "LITELLM_MASTER_KEY": "sk-" + "q" * 40}
    with pytest.raises(SettingsError, match=KEY_SETTING):
        load_settings(environ)


def test_development_accepts_placeholders() -> None:
    settings = load_settings({"LLM_ADMIN_ENV": "development", "LITELLM_MASTER_KEY": "sk-1234"})
    assert settings.is_development
    assert settings.master_key == "sk-1234"
