"""Forms of the VM pages: list filters, create (with catalog choices that follow the chosen account), edit,
bulk actions and sharing. Values are validated here for display; the services validate again and decide."""
from __future__ import annotations

import uuid
from itertools import zip_longest

from django import forms
from django.core.exceptions import ValidationError

from vms import catalog, services, state
from vms.providers.registry import PROVIDER_CHOICES
from vms.selectors import ORDERINGS
from vms.sharing import SHARE_PERMISSIONS
from vms.state import STATUS_CHOICES
from workspaces.forms import user_by_username

PROVIDER_LABELS = dict(PROVIDER_CHOICES)
BULK_ACTIONS = state.LIFECYCLE_ACTIONS
BULK_MAX = 100
# Service error keys that name a different form field.
SERVICE_FIELD = {"type": "instance_type", "provider": "account"}


def region_choices() -> list:
    grouped = [(PROVIDER_LABELS[name], [(region, region) for region in data.regions]) for name, data in catalog.CATALOG.items()]
    return [("", "All regions"), *grouped]


class VMFilterForm(forms.Form):
    """The list's filters, search and sort. An unknown value is ignored, never an error page."""

    q = forms.CharField(label="Search", required=False, max_length=100,
                        widget=forms.SearchInput(attrs={"placeholder": "Name or instance ID"}))
    provider = forms.ChoiceField(label="Cloud", required=False, choices=[("", "All clouds"), *PROVIDER_CHOICES])
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "All statuses"), *STATUS_CHOICES])
    region = forms.ChoiceField(label="Region", required=False, choices=region_choices)
    sort = forms.ChoiceField(label="Sort", required=False, choices=[(key, key) for key in ORDERINGS], widget=forms.HiddenInput)

    def values(self) -> dict[str, str]:
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {name: (cleaned.get(name) or "") for name in self.fields}

    @property
    def active(self) -> bool:
        values = self.values()
        return any(values[name] for name in ("q", "provider", "status", "region"))


# -- metadata as key/value rows -------------------------------------------------------------------

def metadata_rows(data) -> list[tuple[str, str]]:
    """The key/value rows as typed (blank rows dropped), from a POST QueryDict."""
    keys, values = data.getlist("meta_key"), data.getlist("meta_value")
    rows = [((key or "").strip(), (value or "").strip()) for key, value in zip_longest(keys, values, fillvalue="")]
    return [(key, value) for key, value in rows if key or value]


def metadata_from_rows(rows: list[tuple[str, str]]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for key, value in rows:
        if not key:
            raise ValidationError(f"The value {value[:40]!r} needs a key.")
        if key in metadata:
            raise ValidationError(f"The key {key!r} appears twice.")
        metadata[key] = value
    try:
        return services.clean_metadata(metadata)
    except ValidationError as error:
        raise ValidationError(error.message_dict["metadata"]) from None


class MetadataFormMixin:
    """Adds a `metadata` field parsed from meta_key/meta_value rows, and the rows to show again."""

    def _init_metadata(self, initial_metadata: dict | None):
        self.fields["metadata"] = forms.Field(required=False, widget=forms.HiddenInput)
        if self.is_bound:
            self.metadata_rows = metadata_rows(self.data)
        else:
            self.metadata_rows = list((initial_metadata or {}).items())

    def clean_metadata(self):
        return metadata_from_rows(metadata_rows(self.data))


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError next to the field it names (or above the form)."""
    for key, messages in error.message_dict.items():
        field = SERVICE_FIELD.get(key, key)
        form.add_error(field if field in form.fields else None, messages)


class NameField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=services.NAME_MAX, min_length=services.NAME_MIN,
                         help_text=f"{services.NAME_MIN} to {services.NAME_MAX} characters, unique among the workspace's live VMs.",
                         **kwargs)


# -- create ---------------------------------------------------------------------------------------

class VMCreateForm(MetadataFormMixin, forms.Form):
    """Account, then region/zone, type and image from the catalog of the account's cloud, then name and metadata.

    `vm_id` is generated when the form is first shown and travels with every submit: the service makes
    one VM per id, so a double submit creates one VM.
    """

    vm_id = forms.UUIDField(widget=forms.HiddenInput)
    account = forms.ChoiceField(label="Cloud account")
    region = forms.ChoiceField(label="Region")
    zone = forms.ChoiceField(label="Zone", required=False)
    instance_type = forms.ChoiceField(label="Type")
    image_id = forms.ChoiceField(label="Image")
    name = NameField()

    def __init__(self, data=None, *, accounts, initial=None, options_url: str = "", **kwargs):
        initial = {"vm_id": uuid.uuid4(), **(initial or {})}
        super().__init__(data, initial=initial, **kwargs)
        if options_url:  # a new account or region reloads the choices that depend on it
            reload = {"hx-get": options_url, "hx-trigger": "change", "hx-target": "#catalog-fields", "hx-swap": "outerHTML",
                      "hx-include": "#id_account, #catalog-fields", "hx-sync": "this:replace"}
            self.fields["account"].widget.attrs.update(reload)
            self.fields["region"].widget.attrs.update(reload)
        self.accounts = {str(account.pk): account for account in accounts}
        self.fields["account"].choices = [("", "Choose a cloud account")] + [
            (key, f"{account.name} ({PROVIDER_LABELS.get(account.provider, account.provider)})") for key, account in self.accounts.items()
        ]
        self._init_metadata(None)
        self._init_catalog_choices()

    def selected(self, name: str) -> str:
        source = self.data if self.is_bound else self.initial
        return str(source.get(name) or "")

    @property
    def chosen_account(self):
        return self.accounts.get(self.selected("account"))

    @property
    def provider_catalog(self) -> catalog.ProviderCatalog | None:
        return catalog.for_provider(self.chosen_account.provider) if self.chosen_account else None

    @property
    def zone_applies(self) -> bool:
        data = self.provider_catalog
        return bool(data and data.regions.get(self.selected("region")))

    def _init_catalog_choices(self) -> None:
        data = self.provider_catalog
        if data is None:
            for name, prompt in (("region", "Choose an account first"), ("zone", "Choose a region first"),
                                 ("instance_type", "Choose an account first"), ("image_id", "Choose an account first")):
                self.fields[name].choices = [("", prompt)]
            return
        self.fields["region"].choices = [("", "Choose a region"), *((region, region) for region in data.regions)]
        zones = data.regions.get(self.selected("region"), ())
        if not self.selected("region"):
            zone_prompt = "Choose a region first"
        elif not zones:
            zone_prompt = "No zone: the cloud places it in the region"
        else:
            zone_prompt = "Choose a zone" if data.zone_required else "Any zone"
        self.fields["zone"].choices = [("", zone_prompt), *((zone, zone) for zone in zones)]
        self.fields["zone"].required = data.zone_required and bool(zones)
        self.fields["instance_type"].choices = [("", "Choose a type"), *((kind.name, kind.label) for kind in data.types.values())]
        self.fields["image_id"].choices = [("", "Choose an image"), *(
            (image.id, f"{image.name} ({image.storage_gb} GB disk)") for image in data.images.values()
        )]

    def clean_name(self):
        return services.clean_name(self.cleaned_data["name"])


# -- edit -----------------------------------------------------------------------------------------

class VMEditForm(MetadataFormMixin, forms.Form):
    name = NameField()

    def __init__(self, data=None, *, vm, **kwargs):
        super().__init__(data, initial={"name": vm.name}, **kwargs)
        self._init_metadata(vm.metadata)

    def clean_name(self):
        return services.clean_name(self.cleaned_data["name"])


# -- bulk and sharing -----------------------------------------------------------------------------

class BulkActionForm(forms.Form):
    action = forms.ChoiceField(choices=[(action, action.capitalize()) for action in BULK_ACTIONS])

    def clean(self):
        cleaned = super().clean()
        ids = []
        for raw in self.data.getlist("vm"):
            try:
                ids.append(uuid.UUID(raw))
            except ValueError:
                raise ValidationError("The selection contains an invalid VM id.") from None
        if not ids:
            raise ValidationError("Select at least one VM.")
        if len(ids) > BULK_MAX:
            raise ValidationError(f"Select at most {BULK_MAX} VMs at once.")
        cleaned["vm_ids"] = list(dict.fromkeys(ids))
        return cleaned


class ShareForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing SkyClust user.")
    permission = forms.ChoiceField(choices=list(SHARE_PERMISSIONS.items()), initial="operate_vm")

    def clean_username(self):
        self.user = user_by_username(self.cleaned_data["username"])
        return self.cleaned_data["username"].strip()
