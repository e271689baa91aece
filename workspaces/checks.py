from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def encryption_key_is_set(app_configs, **kwargs):
    if settings.SKYCLUST_ENCRYPTION_KEY:
        return []
    return [
        Warning(
            "SKYCLUST_ENCRYPTION_KEY is not set: cloud credentials are encrypted with a generated key under var/.",
            hint="Generate one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`.",
            id="skyclust.W001",
        )
    ]
