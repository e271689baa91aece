"""Form parsing and validation without a database: filters, metadata rows, catalog choices, bulk and
account forms (secrets are never rendered back)."""
import uuid

import pytest
from django.http import QueryDict

from vms.forms import BulkActionForm, VMCreateForm, VMFilterForm, metadata_from_rows, metadata_rows
from workspaces.forms import AccountForm, AccountSecretForm
from workspaces.models import CloudAccount

SECRET = "s3cr3t-value-never-shown"


def query(text: str) -> QueryDict:
    return QueryDict(text)


def test_filter_form_keeps_valid_values_and_ignores_bad_ones():
    form = VMFilterForm(query("provider=gcp&status=running&region=us-central1&q=web&sort=-name"))
    assert form.values() == {"q": "web", "provider": "gcp", "status": "running", "region": "us-central1", "sort": "-name"}
    assert form.active
    bad = VMFilterForm(query("provider=oracle&status=melting&region=moon&sort=;drop&q=" + "x" * 500))
    assert bad.values() == {"q": "", "provider": "", "status": "", "region": "", "sort": ""}
    assert not VMFilterForm(query("sort=name")).active


def test_metadata_rows_drop_blank_rows_and_validate_keys():
    rows = metadata_rows(query("meta_key=team&meta_value=web&meta_key=&meta_value=&meta_key=+env+&meta_value=prod"))
    assert rows == [("team", "web"), ("env", "prod")]
    assert metadata_from_rows(rows) == {"team": "web", "env": "prod"}
    for bad_rows, message in (
        ([("", "orphan")], "needs a key"),
        ([("a", "1"), ("a", "2")], "appears twice"),
        ([("bad key", "v")], "must be 1 to 63"),
        ([("k", "v" * 256)], "at most 255"),
    ):
        with pytest.raises(Exception, match=message):
            metadata_from_rows(bad_rows)


def account(provider: str) -> CloudAccount:
    return CloudAccount(id=uuid.uuid4(), provider=provider, name=f"{provider}-1")


def choices(form, field):
    return [value for value, _ in form.fields[field].choices if value]


def test_create_form_choices_follow_the_chosen_account_and_region():
    aws, gcp, azure = account("aws"), account("gcp"), account("azure")
    nothing_chosen = VMCreateForm(accounts=[aws, gcp])
    assert choices(nothing_chosen, "region") == [] and choices(nothing_chosen, "instance_type") == []
    on_gcp = VMCreateForm(accounts=[aws, gcp], initial={"account": str(gcp.pk), "region": "europe-west1"})
    assert "europe-west1" in choices(on_gcp, "region") and "us-east-1" not in choices(on_gcp, "region")
    assert choices(on_gcp, "zone") == ["europe-west1-b", "europe-west1-c", "europe-west1-d"] and on_gcp.fields["zone"].required
    assert ("e2-small", "e2-small (2 vCPU, 2 GiB)") in on_gcp.fields["instance_type"].choices
    on_azure = VMCreateForm(accounts=[azure], initial={"account": str(azure.pk), "region": "eastus"})
    assert choices(on_azure, "zone") == [] and not on_azure.fields["zone"].required
    assert str(on_azure.fields["zone"].choices[0][1]).startswith("No zone")
    first, second = VMCreateForm(accounts=[aws]), VMCreateForm(accounts=[aws])
    assert first.initial["vm_id"] != second.initial["vm_id"]


def test_create_form_rejects_values_outside_the_catalog_of_the_account():
    aws = account("aws")
    data = query(f"vm_id={uuid.uuid4()}&account={aws.pk}&region=us-central1&instance_type=e2-small&image_id=x&name=ok-name")
    form = VMCreateForm(data, accounts=[aws])
    assert not form.is_valid()
    assert set(form.errors) == {"region", "instance_type", "image_id"}
    good = query(f"vm_id={uuid.uuid4()}&account={aws.pk}&region=us-east-1&zone=us-east-1b&instance_type=t3.small"
                 "&image_id=ami-0c7217cdde317cfec&name=+ok-name+&meta_key=team&meta_value=web")
    form = VMCreateForm(good, accounts=[aws])
    assert form.is_valid(), form.errors
    assert form.cleaned_data["name"] == "ok-name" and form.cleaned_data["metadata"] == {"team": "web"}
    assert form.chosen_account is aws


def test_bulk_form_needs_a_known_action_and_valid_ids():
    ids = [uuid.uuid4(), uuid.uuid4()]
    form = BulkActionForm(query(f"action=stop&vm={ids[0]}&vm={ids[1]}&vm={ids[0]}"))
    assert form.is_valid() and form.cleaned_data["vm_ids"] == ids
    assert not BulkActionForm(query(f"action=delete&vm={ids[0]}")).is_valid()
    assert "Select at least one VM." in BulkActionForm(query("action=stop")).non_field_errors()
    assert not BulkActionForm(query("action=stop&vm=not-a-uuid")).is_valid()
    assert not BulkActionForm(query("action=stop&" + "&".join(f"vm={uuid.uuid4()}" for _ in range(101)))).is_valid()


@pytest.mark.parametrize("provider, setting_fields, secrets", [
    ("aws", [], ["access_key_id", "secret_access_key"]),
    ("gcp", ["project_id"], ["service_account_json"]),
    ("azure", ["subscription_id", "resource_group"], ["tenant_id", "client_id", "client_secret"]),
])
def test_account_form_fields_per_provider_never_render_secrets(provider, setting_fields, secrets):
    form = AccountForm(provider=provider)
    assert list(form.fields) == ["name", *setting_fields, *secrets, "endpoint_url"]
    assert all(not form.fields[key].required for key in secrets)
    bound = AccountForm(query("name=x&" + "&".join(f"{key}={SECRET}" for key in secrets)), provider=provider)
    bound.is_valid()
    assert bound.secret_values == {key: SECRET for key in secrets}
    assert SECRET not in str(bound)
    replace = AccountSecretForm(query("&".join(f"{key}={SECRET}" for key in secrets)), provider=provider)
    assert replace.is_valid() and SECRET not in str(replace)
