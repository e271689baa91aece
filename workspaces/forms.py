"""Forms of workspace administration: members and cloud accounts. The services validate; forms parse and show."""
from django import forms
from django.contrib.auth import get_user_model

from vms.providers.registry import PROVIDER_CHOICES
from workspaces.roles import Role
from workspaces.services import ACCOUNT_SECRETS, ACCOUNT_SETTINGS

PROVIDER_LABELS = dict(PROVIDER_CHOICES)

FIELD_LABELS = {
    "project_id": "Project ID",
    "subscription_id": "Subscription ID",
    "resource_group": "Resource group",
    "access_key_id": "Access key ID",
    "secret_access_key": "Secret access key",
    "service_account_json": "Service account key (JSON)",
    "tenant_id": "Tenant ID",
    "client_id": "Client ID",
    "client_secret": "Client secret",
}


class WriteOnlyTextarea(forms.Textarea):
    """A secret typed in is never sent back to the browser, not even after a validation error."""

    def format_value(self, value):
        return None


class WriteOnlyTextInput(forms.TextInput):
    def format_value(self, value):
        return None


def user_by_username(username: str):
    User = get_user_model()
    try:
        return User.objects.get(**{User.USERNAME_FIELD: username.strip()}, is_active=True)
    except User.DoesNotExist:
        raise forms.ValidationError(f"No active user is named {username.strip()!r}.") from None


class RoleField(forms.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Role.choices, **kwargs)


class MemberInviteForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing SkyClust user.")
    role = RoleField(initial=Role.VIEWER)

    def clean_username(self):
        self.user = user_by_username(self.cleaned_data["username"])
        return self.cleaned_data["username"].strip()


class MemberRoleForm(forms.Form):
    role = RoleField()


class AccountForm(forms.Form):
    """Name, the provider's non-secret settings, its secrets (all blank = ambient credentials), an endpoint."""

    name = forms.CharField(max_length=100)
    endpoint_url = forms.URLField(
        required=False, label="Endpoint URL", assume_scheme="https",
        help_text="Optional: point the SDK at another endpoint (the sandbox, LocalStack, a sovereign cloud).",
    )

    def __init__(self, *args, provider: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.provider = provider
        for key in ACCOUNT_SETTINGS[provider]:
            self.fields[key] = forms.CharField(label=FIELD_LABELS[key], max_length=200)
        self.fields.update(secret_fields(provider))
        self.order_fields(["name", *ACCOUNT_SETTINGS[provider], *ACCOUNT_SECRETS[provider], "endpoint_url"])

    @property
    def setting_values(self) -> dict:
        return {key: self.cleaned_data.get(key, "") for key in ACCOUNT_SETTINGS[self.provider]}

    @property
    def secret_values(self) -> dict:
        return {key: self.cleaned_data.get(key, "") for key in ACCOUNT_SECRETS[self.provider]}

    @property
    def secret_field_names(self) -> tuple[str, ...]:
        return ACCOUNT_SECRETS[self.provider]


class AccountSecretForm(forms.Form):
    """Replace an account's secret; leaving every field blank switches it to ambient credentials."""

    def __init__(self, *args, provider: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.fields.update(secret_fields(provider))

    @property
    def secret_values(self) -> dict:
        return {key: self.cleaned_data.get(key, "") for key in ACCOUNT_SECRETS[self.provider]}


def secret_fields(provider: str) -> dict[str, forms.Field]:
    fields = {}
    for key in ACCOUNT_SECRETS[provider]:
        if key == "service_account_json":
            widget = WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})
        elif "secret" in key:
            widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
        else:  # identifiers stored with the secret: typed in plain, still never shown back
            widget = WriteOnlyTextInput(attrs={"autocomplete": "off"})
        fields[key] = forms.CharField(label=FIELD_LABELS[key], required=False, strip=True, widget=widget, max_length=20000)
    return fields
