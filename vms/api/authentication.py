from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from vms.api import tokens


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` against the hashed, named tokens of vms.api.models.ApiToken."""

    keyword = "Token"

    def authenticate_credentials(self, key):
        token = tokens.token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token
