"""VM pages: list (filters, search, sort, paging, HTMX table swaps), lifecycle and bulk actions with their
refusals and cloud errors, detail, create (catalog choices, field errors, double submit) and edit."""
import re
import uuid

import pytest
from django.urls import reverse

from tests import factories
from tests.htmlcheck import checked_client
from vms import services
from vms.access import Access
from vms.models import VM
from vms.providers.base import Unavailable
from vms.rendering import vm_change_fragments
from vms.state import VMStatus
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
AMI = "ami-0c7217cdde317cfec"
GCP_IMAGE = "projects/debian-cloud/global/images/family/debian-12"


def live_vm(world, name="web-1", account=None, **extra):
    account = account or world.account
    defaults = {
        "aws": dict(instance_type="t3.small", region="us-east-1", image_id=AMI),
        "gcp": dict(instance_type="e2-small", region="us-central1", zone="us-central1-a", image_id=GCP_IMAGE),
        "azure": dict(instance_type="Standard_B1s", region="eastus", image_id="Debian:debian-12:12-gen2:latest"),
    }[account.provider]
    return services.vm_create(actor=world.owner, workspace=world.workspace, account=account, name=name, **(defaults | extra))


def row_html(content: bytes, vm) -> str:
    match = re.search(rf'<tr id="vm-{vm.pk}".*?</tr>', content.decode(), re.S)
    assert match, f"no row for {vm.name}"
    return match.group(0)


def buttons_in(html: str) -> set[str]:
    return set(re.findall(r'data-action="(\w+)"', html))


def list_url(world, **params):
    from urllib.parse import urlencode

    return reverse("vm-list", args=[world.workspace.slug]) + (f"?{urlencode(params)}" if params else "")


# -- list -----------------------------------------------------------------------------------------

def test_list_filters_search_and_sort(world):
    gcp = factories.make_account(world.workspace, "gcp")
    factories.make_vm(world.account, "alpha", status=VMStatus.RUNNING)
    factories.make_vm(world.account, "bravo", status=VMStatus.STOPPED, region="eu-west-1")
    factories.make_vm(gcp, "charlie", status=VMStatus.RUNNING, instance_id="gce-4242")
    client = checked_client(world.viewer)

    def names(**params):
        return re.findall(r'<th scope="row" class="cell-name"><a [^>]*>([^<]+)</a>', client.get(list_url(world, **params)).content.decode())

    assert names() == ["charlie", "bravo", "alpha"]  # newest first
    assert names(sort="name") == ["alpha", "bravo", "charlie"]
    assert names(sort="-name") == ["charlie", "bravo", "alpha"]
    assert names(provider="gcp") == ["charlie"]
    assert names(status="stopped") == ["bravo"]
    assert names(region="eu-west-1") == ["bravo"]
    assert names(q="ALP") == ["alpha"]
    assert names(q="gce-42") == ["charlie"]  # instance id
    assert names(status="no-such-status", sort="drop table") == ["charlie", "bravo", "alpha"]  # ignored, never an error
    empty = client.get(list_url(world, q="zzz")).content.decode()
    assert "No VMs match these filters" in empty


def test_list_pages_by_50_and_htmx_gets_only_the_table(world):
    factories.make_vm(world.account, "seed")
    VM.objects.bulk_create([
        VM(name=f"vm-{i:03}", workspace=world.workspace, account=world.account, provider="aws", status=VMStatus.RUNNING,
           instance_type="t3.micro", region="us-east-1", image_id=AMI, cpus=2, memory_mb=1024, storage_gb=8)
        for i in range(60)
    ])
    client = checked_client(world.viewer)
    page1 = client.get(list_url(world, sort="name")).content.decode()
    assert page1.count('class="vm-row"') == 50 and "Showing 1–50 of 61 VMs" in page1
    assert 'href="?sort=name&amp;page=2"' in page1 and 'hx-push-url="true"' in page1

    fragment = client.get(list_url(world, sort="name", page=2), headers=HX)
    body = fragment.content.decode()
    assert not body.lstrip().lower().startswith("<!doctype") and "<header" not in body
    assert body.count('class="vm-row"') == 11 and "Showing 51–61 of 61 VMs" in body
    assert 'id="filter-sort" value="name" hx-swap-oob="true"' in body  # the filter form keeps the sort
    assert "HX-Request" in fragment["Vary"]
    history_restore = client.get(list_url(world, page=2), headers=HX | {"HX-History-Restore-Request": "true"})
    assert history_restore.content.decode().lstrip().lower().startswith("<!doctype")


def test_empty_state_invites_admins_to_create(world):
    admin_page = checked_client(world.admin).get(list_url(world)).content.decode()
    assert "No VMs yet: <a href=\"%s\">create one</a>" % reverse("vm-create", args=[world.workspace.slug]) in admin_page
    viewer_page = checked_client(world.viewer).get(list_url(world)).content.decode()
    assert "No VMs yet." in viewer_page and reverse("vm-create", args=[world.workspace.slug]) not in viewer_page


def test_buttons_follow_role_and_transition_table(world):
    running = factories.make_vm(world.account, "running-1", status=VMStatus.RUNNING)
    stopping = factories.make_vm(world.account, "stopping-1", status=VMStatus.STOPPING)
    terminated = factories.make_vm(world.account, "gone-1", status=VMStatus.TERMINATED)
    expected = {
        "viewer": {running: set(), stopping: set(), terminated: set()},
        "operator": {running: {"stop", "restart"}, stopping: set(), terminated: set()},
        "admin": {running: {"stop", "restart", "terminate"}, stopping: {"terminate"}, terminated: {"delete"}},
    }
    for role, rows in expected.items():
        page = checked_client(getattr(world, role)).get(list_url(world)).content
        for vm, actions in rows.items():
            assert buttons_in(row_html(page, vm)) == actions, (role, vm.name)
    viewer_page = checked_client(world.viewer).get(list_url(world)).content.decode()
    assert 'id="bulk-form"' not in viewer_page and 'type="checkbox" name="vm"' not in viewer_page


# -- lifecycle actions ----------------------------------------------------------------------------

def test_htmx_stop_answers_with_the_updated_row_and_a_message(world, fake_cloud):
    vm = live_vm(world)
    response = checked_client(world.operator).post(reverse("vm-action", args=[vm.pk, "stop"]), headers=HX)
    assert response.status_code == 200 and response["X-SkyClust-Fragment"] == "1"
    row = row_html(response.content, vm)
    assert 'hx-swap-oob="true"' in row and "Stopping" in row and buttons_in(row) == set()
    body = response.content.decode()
    assert f'id="vm-{vm.pk}-status"' in body and f'id="workspace-{world.workspace.pk}-summary"' in body
    assert 'id="messages"' in body and "Stopping web-1." in body
    assert VM.objects.get(pk=vm.pk).status == VMStatus.STOPPING


def test_refused_transition_is_409_with_the_true_state(world, fake_cloud):
    vm = factories.make_vm(world.account, "idle", status=VMStatus.STOPPED)
    response = checked_client(world.operator).post(reverse("vm-action", args=[vm.pk, "stop"]), headers=HX)
    assert response.status_code == 409 and response["X-SkyClust-Fragment"] == "1"
    assert "Cannot stop idle: it is stopped." in response.content.decode()
    row = row_html(response.content, vm)
    assert "Stopped" in row and buttons_in(row) == {"start", "restart"}


def test_viewer_post_is_403_and_shows_the_row_without_buttons(world, fake_cloud):
    vm = live_vm(world)
    response = checked_client(world.viewer).post(reverse("vm-action", args=[vm.pk, "stop"]), headers=HX)
    assert response.status_code == 403
    assert "does not allow you to stop web-1" in response.content.decode()
    assert buttons_in(row_html(response.content, vm)) == set()
    assert VM.objects.get(pk=vm.pk).status == VMStatus.RUNNING
    plain = checked_client(world.viewer).post(reverse("vm-action", args=[vm.pk, "stop"]))
    assert plain.status_code == 403 and b"Not allowed" in plain.content


def test_cloud_error_shows_the_reason_and_the_true_state(world, fake_cloud):
    vm = live_vm(world)
    fake_cloud.fail_next("stop", Unavailable("EC2 is unreachable right now", provider="aws"))
    response = checked_client(world.operator).post(reverse("vm-action", args=[vm.pk, "stop"]), headers=HX)
    assert response.status_code == 502 and response["X-SkyClust-Fragment"] == "1"
    body = response.content.decode()
    assert "Stop of web-1 failed: EC2 is unreachable right now" in body
    row = row_html(response.content, vm)
    assert "Running" in row and "EC2 is unreachable right now" in row  # the cloud still runs it; last error shown


def test_without_javascript_actions_redirect_and_destructive_ones_ask_first(world, fake_cloud):
    vm = live_vm(world)
    client = checked_client(world.admin)
    response = client.post(reverse("vm-action", args=[vm.pk, "restart"]), {"next": list_url(world)})
    assert response.status_code == 302 and response["Location"] == list_url(world)
    vm = live_vm(world, "web-3")
    response = client.post(reverse("vm-action", args=[vm.pk, "stop"]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("vm-detail", args=[vm.pk])  # only local next URLs

    vm = live_vm(world, "web-2")
    question = client.post(reverse("vm-action", args=[vm.pk, "terminate"]))
    assert question.status_code == 200 and b"Terminate web-2?" in question.content
    assert VM.objects.get(pk=vm.pk).status == VMStatus.RUNNING
    done = client.post(reverse("vm-action", args=[vm.pk, "terminate"]), {"confirmed": "yes"})
    assert done.status_code == 302 and VM.objects.get(pk=vm.pk).status == VMStatus.TERMINATING
    refused = client.post(reverse("vm-action", args=[vm.pk, "stop"]))
    assert refused.status_code == 409 and b"Cannot stop web-2: it is terminating." in refused.content


def test_delete_removes_the_row_or_leaves_the_detail_page(world):
    gone = factories.make_vm(world.account, "gone-1", status=VMStatus.TERMINATED)
    response = checked_client(world.admin).post(reverse("vm-action", args=[gone.pk, "delete"]), headers=HX)
    assert response.status_code == 200 and f'<tr id="vm-{gone.pk}" hx-swap-oob="delete"></tr>' in response.content.decode()
    assert not VM.objects.filter(pk=gone.pk).exists()

    gone = factories.make_vm(world.account, "gone-2", status=VMStatus.TERMINATED)
    detail = reverse("vm-detail", args=[gone.pk])
    response = checked_client(world.admin).post(reverse("vm-action", args=[gone.pk, "delete"]), headers=HX | {"HX-Current-URL": f"http://testserver{detail}"})
    assert response["HX-Redirect"] == list_url(world)

    running = factories.make_vm(world.account, "alive", status=VMStatus.RUNNING)
    response = checked_client(world.admin).post(reverse("vm-action", args=[running.pk, "delete"]), headers=HX)
    assert response.status_code == 409 and "Cannot delete alive: it is running." in response.content.decode()


def test_unknown_action_is_404(world):
    vm = factories.make_vm(world.account)
    assert checked_client(world.owner).post(f"/vms/{vm.pk}/explode/").status_code == 404
    assert checked_client(world.owner).get(reverse("vm-action", args=[vm.pk, "stop"])).status_code == 405


# -- bulk -----------------------------------------------------------------------------------------

def test_bulk_stop_across_clouds_lists_each_outcome(world, fake_cloud):
    gcp = factories.make_account(world.workspace, "gcp")
    azure = factories.make_account(world.workspace, "azure")
    on_aws, on_gcp, on_azure = live_vm(world, "aws-1"), live_vm(world, "gcp-1", account=gcp), live_vm(world, "azure-1", account=azure)
    already_stopped = factories.make_vm(world.account, "idle-1", status=VMStatus.STOPPED)
    foreign = factories.make_vm(world.other_account, "theirs")
    fake_cloud.fail_next("stop", Unavailable("Compute API is down", provider="aws"))
    selected = [on_aws, on_gcp, on_azure, already_stopped, foreign]
    response = checked_client(world.operator).post(
        reverse("vm-bulk", args=[world.workspace.slug]), {"action": "stop", "vm": [str(vm.pk) for vm in selected]}, headers=HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Stop: 2 of 5 done" in body
    assert "Stop of aws-1 failed: Compute API is down" in body and "(cloud error)" in body
    assert "Stopping gcp-1." in body and "Stopping azure-1." in body
    assert "Cannot stop idle-1: it is stopped. (refused)" in body
    assert "A selected VM no longer exists." in body and "theirs" not in body
    for vm in (on_gcp, on_azure, already_stopped):
        assert 'hx-swap-oob="true"' in row_html(response.content, vm)
    assert {vm.status for vm in VM.objects.filter(pk__in=[on_gcp.pk, on_azure.pk])} == {VMStatus.STOPPING}
    assert VM.objects.get(pk=foreign.pk).status == VMStatus.RUNNING


def test_bulk_without_selection_is_a_readable_error(world):
    response = checked_client(world.operator).post(reverse("vm-bulk", args=[world.workspace.slug]), {"action": "stop"}, headers=HX)
    assert response.status_code == 400 and "Select at least one VM." in response.content.decode()
    response = checked_client(world.operator).post(reverse("vm-bulk", args=[world.workspace.slug]), {"action": "explode", "vm": ["x"]})
    assert response.status_code == 400


# -- detail ---------------------------------------------------------------------------------------

def test_detail_shows_every_field_metadata_freshness_error_and_own_timeline(world, fake_cloud):
    vm = live_vm(world, metadata={"team": "web", "cost-center": "42"})
    other = live_vm(world, "other-vm")
    services.vm_stop(vm_id=vm.pk, actor=world.operator)
    VM.objects.filter(pk=vm.pk).update(last_error="Stop failed: throttled")
    page = checked_client(world.viewer).get(reverse("vm-detail", args=[vm.pk])).content.decode()
    vm.refresh_from_db()
    for value in (str(vm.pk), vm.instance_id, "t3.small", "us-east-1", AMI, "2 GiB", "2048 MB", "8 GB", "aws-platform", "AWS EC2",
                  "team", "cost-center", "Stop failed: throttled", "by the last action", "Stopping"):
        assert value in page, value
    assert "vm.create" in page and "vm.stop" in page and "oscar" in page
    assert page.count('class="event event-') == AuditEvent.objects.filter(target_id=str(vm.pk)).count()
    assert str(other.pk) not in page


def test_detail_of_a_polled_vm_names_the_source(world):
    vm = factories.make_vm(world.account, status=VMStatus.RUNNING)
    services.vm_update_status(vm_id=vm.pk, status=VMStatus.STOPPED)
    page = checked_client(world.viewer).get(reverse("vm-detail", args=[vm.pk])).content.decode()
    assert "by polling the cloud" in page and "s ago" in page


# -- create ---------------------------------------------------------------------------------------

def create_data(world, **overrides):
    data = {"vm_id": str(uuid.uuid4()), "account": str(world.account.pk), "region": "us-east-1", "zone": "",
            "instance_type": "t3.small", "image_id": AMI, "name": "api-1", "meta_key": ["team", ""], "meta_value": ["api", ""]}
    return data | overrides


def test_create_form_carries_a_fresh_vm_id_and_catalog_choices_follow_the_account(world):
    gcp = factories.make_account(world.workspace, "gcp")
    client = checked_client(world.admin)
    page = client.get(reverse("vm-create", args=[world.workspace.slug])).content.decode()
    first_id = re.search(r'name="vm_id" value="([0-9a-f-]{36})"', page).group(1)
    second = client.get(reverse("vm-create", args=[world.workspace.slug])).content.decode()
    assert first_id not in second
    assert 'hx-get="%s"' % reverse("vm-create-options", args=[world.workspace.slug]) in page

    options = reverse("vm-create-options", args=[world.workspace.slug])
    gcp_fields = client.get(options, {"account": str(gcp.pk), "region": "europe-west1"}, headers=HX).content.decode()
    assert gcp_fields.lstrip().startswith('<div id="catalog-fields"')
    assert "europe-west1-b" in gcp_fields and "us-east-1" not in gcp_fields
    assert "e2-small (2 vCPU, 2 GiB)" in gcp_fields and "Debian 12 (10 GB disk)" in gcp_fields
    aws_fields = client.get(options, {"account": str(world.account.pk), "region": "europe-west1"}, headers=HX).content.decode()
    assert "us-east-1" in aws_fields and "t3.small (2 vCPU, 2 GiB)" in aws_fields and "europe-west1-b" not in aws_fields


def test_create_makes_the_vm_and_goes_to_it(world, fake_cloud):
    data = create_data(world)
    response = checked_client(world.admin).post(reverse("vm-create", args=[world.workspace.slug]), data)
    vm = VM.objects.get()
    assert str(vm.pk) == data["vm_id"] and vm.name == "api-1" and vm.metadata == {"team": "api"}
    assert response.status_code == 302 and response["Location"] == reverse("vm-detail", args=[vm.pk])


def test_double_submit_creates_one_vm(world, fake_cloud):
    data = create_data(world)
    client = checked_client(world.admin)
    first = client.post(reverse("vm-create", args=[world.workspace.slug]), data)
    second = client.post(reverse("vm-create", args=[world.workspace.slug]), data)
    assert first["Location"] == second["Location"]
    assert VM.objects.count() == 1 and fake_cloud.calls["create"] == 1


@pytest.mark.parametrize("overrides, field, message", [
    ({"name": "ab"}, "name", "at least 3 characters"),
    ({"name": "x" * 101}, "name", "at most 100 characters"),
    ({"region": ""}, "region", "This field is required."),
    ({"region": "mars-1"}, "region", "Select a valid choice."),
    ({"instance_type": "t9.huge"}, "instance_type", "Select a valid choice."),
    ({"account": str(uuid.uuid4())}, "account", "Select a valid choice."),
    ({"meta_key": ["bad key!"], "meta_value": ["v"]}, "metadata", "must be 1 to 63 characters"),
    ({"meta_key": ["", "team"], "meta_value": ["orphan", "x"]}, "metadata", "needs a key"),
    ({"meta_key": ["a", "a"], "meta_value": ["1", "2"]}, "metadata", "appears twice"),
    ({"vm_id": "not-a-uuid"}, "vm_id", "valid UUID"),
])
def test_bad_create_input_shows_field_errors_and_keeps_the_input(world, fake_cloud, overrides, field, message):
    data = create_data(world, **overrides)
    response = checked_client(world.admin).post(reverse("vm-create", args=[world.workspace.slug]), data)
    assert response.status_code == 400
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    page = response.content.decode()
    assert message.replace("'", "&#x27;") in page or field == "vm_id"
    if field != "name":
        assert 'value="api-1"' in page  # what the user typed is kept
    assert VM.objects.count() == 0


def test_duplicate_live_name_is_a_name_error(world, fake_cloud):
    live_vm(world, "api-1")
    response = checked_client(world.admin).post(reverse("vm-create", args=[world.workspace.slug]), create_data(world))
    assert response.status_code == 400 and "already exists" in response.context["form"].errors["name"][0]
    factories.make_vm(world.account, "old-1", status=VMStatus.TERMINATED)
    response = checked_client(world.admin).post(reverse("vm-create", args=[world.workspace.slug]), create_data(world, name="old-1"))
    assert response.status_code == 302  # only live VMs reserve a name


def test_gcp_needs_a_zone(world, fake_cloud):
    gcp = factories.make_account(world.workspace, "gcp")
    data = create_data(world, account=str(gcp.pk), region="us-central1", instance_type="e2-small", image_id=GCP_IMAGE)
    response = checked_client(world.admin).post(reverse("vm-create", args=[world.workspace.slug]), data)
    assert response.status_code == 400 and response.context["form"].errors["zone"]
    response = checked_client(world.admin).post(reverse("vm-create", args=[world.workspace.slug]), data | {"zone": "us-central1-b"})
    assert response.status_code == 302 and VM.objects.get().zone == "us-central1-b"


def test_cloud_error_on_create_shows_the_vm_in_error(world, fake_cloud):
    fake_cloud.fail_next("create", Unavailable("quota exceeded in us-east-1", provider="aws"))
    client = checked_client(world.admin)
    response = client.post(reverse("vm-create", args=[world.workspace.slug]), create_data(world), follow=True)
    page = response.content.decode()
    assert "api-1 could not be created: quota exceeded in us-east-1" in page
    assert VM.objects.get().status == VMStatus.ERROR


def test_create_without_accounts_says_what_to_do(world):
    empty = factories.make_workspace("Empty", world.admin)
    page = checked_client(world.admin).get(reverse("vm-create", args=[empty.slug])).content.decode()
    assert "has no cloud account yet" in page and reverse("accounts", args=[empty.slug]) in page


# -- edit -----------------------------------------------------------------------------------------

def test_edit_renames_and_replaces_metadata(world):
    vm = factories.make_vm(world.account, "old-name", metadata={"a": "1"})
    client = checked_client(world.admin)
    page = client.get(reverse("vm-edit", args=[vm.pk])).content.decode()
    assert 'value="old-name"' in page and 'value="a"' in page and 'value="1"' in page
    response = client.post(reverse("vm-edit", args=[vm.pk]), {"name": "new-name", "meta_key": ["b"], "meta_value": ["2"]})
    assert response.status_code == 302
    vm.refresh_from_db()
    assert (vm.name, vm.metadata) == ("new-name", {"b": "2"})
    assert AuditEvent.objects.filter(target_id=str(vm.pk), action="vm.update").exists()


def test_edit_errors_by_field(world):
    factories.make_vm(world.account, "taken")
    vm = factories.make_vm(world.account, "mine")
    client = checked_client(world.admin)
    response = client.post(reverse("vm-edit", args=[vm.pk]), {"name": "taken", "meta_key": ["k"], "meta_value": ["v"]})
    assert response.status_code == 400 and "already exists" in response.context["form"].errors["name"][0]
    assert 'value="k"' in response.content.decode()
    response = client.post(reverse("vm-edit", args=[vm.pk]), {"name": "mine", "meta_key": ["k" * 64], "meta_value": ["v"]})
    assert response.status_code == 400 and response.context["form"].errors["metadata"]


# -- the fragments a change pushes ----------------------------------------------------------------

def test_change_fragments_are_rendered_for_each_user(world):
    vm = factories.make_vm(world.account, status=VMStatus.RUNNING)
    for_operator = vm_change_fragments(vm_id=vm.pk, workspace_id=world.workspace.pk, access=Access(world.operator))
    row = re.search(rf'<tr id="vm-{vm.pk}".*?</tr>', for_operator, re.S).group(0)
    assert 'hx-swap-oob="true"' in row and buttons_in(row) == {"stop", "restart"}
    assert f'id="vm-{vm.pk}-status"' in for_operator and f'id="workspace-{world.workspace.pk}-summary"' in for_operator
    for_viewer = vm_change_fragments(vm_id=vm.pk, workspace_id=world.workspace.pk, access=Access(world.viewer))
    assert buttons_in(for_viewer) == set() and "Running" in for_viewer
    for_outsider = vm_change_fragments(vm_id=vm.pk, workspace_id=world.workspace.pk, access=Access(world.outsider))
    assert f'<tr id="vm-{vm.pk}" hx-swap-oob="delete"></tr>' in for_outsider and "summary" not in for_outsider
    assert vm.name not in for_outsider

    vm_id = vm.pk
    vm.delete()
    deleted = vm_change_fragments(vm_id=vm_id, workspace_id=world.workspace.pk, access=Access(world.operator))
    assert f'<tr id="vm-{vm_id}" hx-swap-oob="delete"></tr>' in deleted and "This VM was deleted" in deleted


def test_bulk_terminate_without_javascript_asks_first(world, fake_cloud):
    first, second = live_vm(world, "doomed-1"), live_vm(world, "doomed-2")
    url = reverse("vm-bulk", args=[world.workspace.slug])
    client = checked_client(world.admin)
    question = client.post(url, {"action": "terminate", "vm": [str(first.pk), str(second.pk)]})
    page = question.content.decode()
    assert question.status_code == 200 and "Terminate 2 VMs?" in page and "doomed-1" in page and "doomed-2" in page
    assert set(VM.objects.values_list("status", flat=True)) == {VMStatus.RUNNING}
    done = client.post(url, {"action": "terminate", "vm": [str(first.pk), str(second.pk)], "confirmed": "yes"})
    assert "Terminate: 2 of 2 done" in done.content.decode()
    assert set(VM.objects.values_list("status", flat=True)) == {VMStatus.TERMINATING}


# -- live insertion of new VMs --------------------------------------------------------------------

def test_only_the_newest_first_unfiltered_first_page_accepts_new_rows(world):
    factories.make_vm(world.account, name="existing")
    client = checked_client(world.owner)
    assert b"data-live-insert" in client.get(list_url(world)).content
    assert b"data-live-insert" not in client.get(list_url(world, sort="name")).content
    assert b"data-live-insert" not in client.get(list_url(world, status="running")).content


def test_created_event_inserts_the_row_and_other_events_replace_it(world):
    vm = factories.make_vm(world.account, name="fresh-one")
    created = vm_change_fragments(vm_id=vm.pk, workspace_id=world.workspace.pk, access=Access(world.operator), event="vm.created")
    assert 'hx-swap-oob="afterbegin:#vm-rows[data-live-insert]"' in created
    assert f'<tr id="vm-{vm.pk}"' in created and f'id="vm-{vm.pk}" class="vm-row" data-status="running" hx-swap-oob' not in created
    changed = vm_change_fragments(vm_id=vm.pk, workspace_id=world.workspace.pk, access=Access(world.operator), event="vm.status.changed")
    assert "afterbegin:#vm-rows" not in changed and 'hx-swap-oob="true"' in changed
