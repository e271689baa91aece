"""Fernet encryption of cloud credentials at rest."""
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _fernet() -> Fernet:
    key = settings.SKYCLUST_ENCRYPTION_KEY
    if not key:
        path = settings.SKYCLUST_ENCRYPTION_KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(Fernet.generate_key())
            path.chmod(0o600)
        key = path.read_bytes().strip()
    return Fernet(key)


def encrypt_json(value: dict) -> str:
    return _fernet().encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ValueError("Stored credentials cannot be decrypted with SKYCLUST_ENCRYPTION_KEY.") from None
