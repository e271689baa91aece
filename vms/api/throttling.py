"""Per-user request throttling (and per-address for the anonymous token endpoint).

The rates are read from settings on every request rather than once at import (DRF's default), so a
changed REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] applies at once, in tests too.
"""
from rest_framework import throttling
from rest_framework.settings import api_settings


class _LiveRates:
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserThrottle(_LiveRates, throttling.UserRateThrottle):
    scope = "user"


class TokenObtainThrottle(_LiveRates, throttling.AnonRateThrottle):
    """Password guessing through POST /auth/token/ is limited per client address."""

    scope = "token_obtain"
