"""The dashboard page where a user creates, names and revokes their own API tokens."""
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from vms.api import tokens
from vms.api.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=tokens.NAME_MAX, help_text="What the token is for, e.g. “CI pipeline”.")


def _page(request, form, *, new_key: str = "", new_token=None, status: int = 200):
    context = {"form": form, "tokens": tokens.tokens_of(request.user), "new_key": new_key, "new_token": new_token}
    return render(request, "api/tokens.html", context, status=status)


@never_cache  # the response that shows a new key must not be kept by any cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    if request.method == "GET":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            token, key = tokens.token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, field_errors)
        else:
            return _page(request, TokenForm(), new_key=key, new_token=token, status=201)
    return _page(request, form, status=400)


@login_required
@require_POST
def token_revoke(request, token_id: int):
    try:
        tokens.token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    messages.success(request, "Token revoked: requests using it are now refused.")
    url = reverse("api-tokens")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
