"""Every dashboard page and fragment is well-formed HTML that a strict CSP can serve: no inline script,
no inline event handler, no inline style, balanced tags, unique ids."""
import pytest
from django.urls import URLPattern, reverse

from tests import factories
from tests.htmlcheck import checked_client, html_problems
from vms import sharing
from vms import urls as vm_urls
from vms.access import Access
from vms.rendering import vm_change_fragments
from vms.state import VMStatus
from workspaces import urls as workspace_urls

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def test_checker_catches_what_a_strict_csp_forbids():
    assert html_problems("<div><script>alert(1)</script></div>", full_page=False)
    assert html_problems('<button onclick="go()">x</button>', full_page=False)
    assert html_problems('<button hx-on:click="go()">x</button>', full_page=False)
    assert html_problems('<p style="color:red">x</p>', full_page=False)
    assert html_problems('<a href="javascript:go()">x</a>', full_page=False)
    assert html_problems("<div><span></div>", full_page=False)
    assert html_problems('<p id="a"></p><p id="a"></p>', full_page=False)
    assert html_problems("<p>x</p>", full_page=True)  # no doctype
    assert not html_problems('<!DOCTYPE html><html><head><script src="/s.js" defer></script></head><body><br><input name="q"><svg><rect width="1"/></svg></body></html>', full_page=True)


def test_every_page_and_fragment_is_valid_html(world, fake_cloud):
    ws = world.workspace.slug
    factories.make_account(world.workspace, "gcp")
    vm = factories.make_vm(world.account, "web-1", metadata={"team": "web"}, last_error="Stop failed: throttled")
    gone = factories.make_vm(world.account, "gone-1", status=VMStatus.TERMINATED)
    stranger = factories.make_user("sam")
    sharing.vm_share(vm_id=vm.pk, user=stranger, permission="operate_vm", actor=world.owner)
    membership = world.viewer.memberships.get(workspace=world.workspace)
    owner = checked_client(world.owner)

    pages = {
        "home": [("/", owner), ("/", checked_client(stranger)), ("/", checked_client(factories.make_user("lonely")))],
        "workspace": [(reverse("workspace", args=[ws]), owner)],
        "workspace-settings": [(reverse("workspace-settings", args=[ws]), owner)],
        "members": [(reverse("members", args=[ws]), owner)],
        "accounts": [(reverse("accounts", args=[ws]), owner)],
        "account-create": [(reverse("account-create", args=[ws, provider]), owner) for provider in ("aws", "gcp", "azure")],
        "account-secret": [(reverse("account-secret", args=[ws, world.account.pk]), owner)],
        "sharing": [(reverse("sharing", args=[ws]), owner)],
        "vm-list": [(reverse("vm-list", args=[ws]), owner), (reverse("vm-list", args=[ws]) + "?q=nothing", owner),
                    (reverse("vm-list", args=[ws]), checked_client(world.viewer))],
        "vm-create": [(reverse("vm-create", args=[ws]), owner)],
        "vm-detail": [(reverse("vm-detail", args=[vm.pk]), owner), (reverse("vm-detail", args=[vm.pk]), checked_client(stranger)),
                      (reverse("vm-detail", args=[gone.pk]), owner)],
        "vm-edit": [(reverse("vm-edit", args=[vm.pk]), owner)],
    }
    fragments = {
        "vm-list": [reverse("vm-list", args=[ws]) + "?sort=name"],
        "vm-create-options": [reverse("vm-create-options", args=[ws]) + f"?account={world.account.pk}&region=us-east-1"],
        "vm-metadata-row": [reverse("vm-metadata-row")],
    }
    posts = {  # name -> (url, data, htmx?)
        "vm-action": (reverse("vm-action", args=[vm.pk, "terminate"]), {}, False),  # the no-JS confirmation page
        "vm-bulk": (reverse("vm-bulk", args=[ws]), {"action": "stop", "vm": [str(vm.pk)]}, True),
        "vm-share": (reverse("vm-share", args=[vm.pk]), {"username": "ghost", "permission": "view_vm"}, False),
        "vm-unshare": (reverse("vm-unshare", args=[vm.pk]), {"user": stranger.pk}, False),
        "member-role": (reverse("member-role", args=[ws, membership.pk]), {}, False),
        "member-remove": (reverse("member-remove", args=[ws, membership.pk]), {}, False),
        "account-verify": (reverse("account-verify", args=[ws, world.account.pk]), {}, False),
        "account-remove": (reverse("account-remove", args=[ws, world.account.pk]), {}, False),
    }
    for name, visits in pages.items():
        for url, client in visits:
            assert client.get(url, follow=True).status_code == 200, url
    for name, urls in fragments.items():
        for url in urls:
            assert owner.get(url, headers=HX).status_code == 200, url
    for name, (url, data, htmx) in posts.items():
        owner.post(url, data, headers=HX if htmx else {}, follow=True)
    # forms with errors, refusals, error pages
    owner.post(reverse("vm-create", args=[ws]), {"name": "x", "meta_key": ["bad key"], "meta_value": ["v"]})
    owner.post(reverse("vm-edit", args=[vm.pk]), {"name": ""})
    owner.post(reverse("members", args=[ws]), {"username": "ghost"})
    owner.post(reverse("account-create", args=[ws, "azure"]), {"name": ""})
    owner.post(reverse("account-secret", args=[ws, world.account.pk]), {"access_key_id": "half"})
    owner.post(reverse("vm-bulk", args=[ws]), {"action": "terminate", "vm": [str(vm.pk)]})  # the no-JS question
    owner.post(reverse("vm-bulk", args=[ws]), {"action": "restart", "vm": [str(vm.pk)]})  # the no-JS result page
    checked_client(world.viewer).post(reverse("vm-action", args=[vm.pk, "stop"]), headers=HX)
    checked_client(world.viewer).post(reverse("vm-action", args=[vm.pk, "stop"]))
    checked_client(world.viewer).get(reverse("members", args=[ws]))
    owner.get("/no/such/page/")
    owner.get(reverse("vm-detail", args=[factories.make_vm(world.other_account, "theirs").pk]))

    covered = set(pages) | set(fragments) | set(posts)
    every_view = {p.name for p in [*vm_urls.urlpatterns, *workspace_urls.urlpatterns] if isinstance(p, URLPattern)}
    assert every_view - covered == set(), "add the new views to this test"

    for access in (Access(world.owner), Access(world.viewer), Access(stranger)):
        assert not html_problems(vm_change_fragments(vm_id=vm.pk, workspace_id=world.workspace.pk, access=access), full_page=False)
    assert not html_problems(vm_change_fragments(vm_id=gone.pk, workspace_id=world.workspace.pk, access=Access(world.outsider)), full_page=False)
