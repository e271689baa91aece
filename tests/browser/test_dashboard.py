"""What a user clicks, in chromium: log in, create a VM on each cloud and watch it reach running, stop it
and watch the row change without a reload, a viewer's read-only pages, a foreign VM's 404, field errors,
and pages that work at 390 px and by keyboard."""
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import SCREENSHOTS
from vms import services
from vms.cloud import adapter_for_vm
from vms.models import VM
from vms.state import VMStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_TIMEOUT = 30_000  # ms: a poll cycle plus the sandbox's transition, on a busy CI machine
CHOICES = {
    "aws": {"region": "us-east-1", "zone": "", "instance_type": "t3.micro", "image_id": "ami-0c7217cdde317cfec"},
    "gcp": {"region": "us-central1", "zone": "us-central1-a", "instance_type": "e2-micro",
            "image_id": "projects/debian-cloud/global/images/family/debian-12"},
    "azure": {"region": "westeurope", "zone": "", "instance_type": "Standard_B1s", "image_id": "Debian:debian-12:12-gen2:latest"},
}


def sandbox_vm(world, account, name, **extra):
    """A VM that really exists in its sandbox, so the server's poller keeps it as it is."""
    choices = CHOICES[account.provider]
    return services.vm_create(actor=world.owner, workspace=world.workspace, account=account, name=name,
                              region=choices["region"], zone=choices["zone"], instance_type=choices["instance_type"],
                              image_id=choices["image_id"], **extra)


CSP_VIOLATIONS: list[str] = []


@pytest.fixture(autouse=True)
def no_csp_violations():
    """The test server sends a strict Content-Security-Policy with every page; the browser may refuse nothing."""
    CSP_VIOLATIONS.clear()
    yield
    assert CSP_VIOLATIONS == []


def new_page(browser, live_server_url, user, width=1280):
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=live_server_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", lambda message: CSP_VIOLATIONS.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/w/|/$"))
    return page


def mark_page(page) -> None:
    """Anything kept in window survives htmx swaps and WebSocket pushes, and is gone after a reload."""
    page.evaluate("window.__sameDocument = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def choose(page, field: str, value: str, reloads_choices: bool) -> None:
    select = page.locator(f"#id_{field}")
    if reloads_choices:
        with page.expect_response(lambda response: "/vms/new/options/" in response.url):
            select.select_option(value)
        page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")
    else:
        select.select_option(value)


def create_vm_through_the_form(page, workspace, account, name: str) -> str:
    page.goto(reverse("vm-create", args=[workspace.slug]))
    choices = CHOICES[account.provider]
    choose(page, "account", str(account.pk), reloads_choices=True)
    choose(page, "region", choices["region"], reloads_choices=True)
    if choices["zone"]:
        choose(page, "zone", choices["zone"], reloads_choices=False)
    choose(page, "instance_type", choices["instance_type"], reloads_choices=False)
    choose(page, "image_id", choices["image_id"], reloads_choices=False)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Key").first.fill("purpose")
    page.get_by_label("Value").first.fill("browser-test")
    page.get_by_role("button", name="Create VM").click()
    page.wait_for_url(re.compile(r"/vms/[0-9a-f-]{36}/$"))
    return page.url.rstrip("/").rsplit("/", 1)[1]


def test_create_on_each_cloud_watch_it_run_then_stop_it_live(browser, live_server_url, world, sandbox_accounts, slow_transitions):
    page = new_page(browser, live_server_url, world.owner)
    expect(page.locator("#live-status")).to_have_text("Live", timeout=LIVE_TIMEOUT)
    created = {}
    for provider, account in sandbox_accounts.items():
        vm_id = create_vm_through_the_form(page, world.workspace, account, f"{provider}-browser-1")
        created[provider] = vm_id
        mark_page(page)
        status = page.locator(f"#vm-{vm_id}-status .badge")
        expect(status).to_have_text("Running", timeout=LIVE_TIMEOUT)
        assert_not_reloaded(page)
        vm = VM.objects.get(pk=vm_id)
        assert vm.provider == provider and vm.instance_id and vm.metadata == {"purpose": "browser-test"}

    page.goto(reverse("vm-list", args=[world.workspace.slug]))
    expect(page.locator("#live-status")).to_have_text("Live", timeout=LIVE_TIMEOUT)
    mark_page(page)
    for provider, vm_id in created.items():
        row = page.locator(f"#vm-{vm_id}")
        expect(row.locator(".badge")).to_have_text("Running")
        row.get_by_role("button", name=f"Stop {provider}-browser-1", exact=True).click()
        expect(row.locator(".badge")).to_have_text(re.compile("Stopping|Stopped"))
        expect(page.locator("#messages")).to_contain_text(f"Stopping {provider}-browser-1.")
    for provider, vm_id in created.items():
        row = page.locator(f"#vm-{vm_id}")
        expect(row.locator(".badge")).to_have_text("Stopped", timeout=LIVE_TIMEOUT)  # pushed by the poller's change
        expect(row.get_by_role("button", name=f"Start {provider}-browser-1", exact=True)).to_be_visible()
    assert_not_reloaded(page)
    assert set(VM.objects.filter(pk__in=created.values()).values_list("status", flat=True)) == {VMStatus.STOPPED}


def test_terminate_asks_naming_the_vm_and_a_refusal_shows_the_true_state(browser, live_server_url, world, sandbox_accounts):
    vm = sandbox_vm(world, sandbox_accounts["aws"], "never-made")
    page = new_page(browser, live_server_url, world.owner)
    page.goto(reverse("vm-list", args=[world.workspace.slug]))
    mark_page(page)
    questions = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer)
    page.get_by_role("button", name="Terminate never-made").click()
    expect(page.locator(f"#vm-{vm.pk} .badge")).to_have_text("Running")
    assert questions and "Terminate never-made?" in questions[0]
    assert VM.objects.get(pk=vm.pk).status == VMStatus.RUNNING

    adapter_for_vm(vm).stop(vm.ref)  # someone stopped it behind this page's back, and SkyClust has seen it
    VM.objects.filter(pk=vm.pk).update(status=VMStatus.STOPPED)
    page.get_by_role("button", name="Stop never-made").click()
    expect(page.locator("#messages")).to_contain_text("Cannot stop never-made: it is stopped.")
    expect(page.locator(f"#vm-{vm.pk} .badge")).to_have_text("Stopped")
    assert_not_reloaded(page)


def test_bulk_stop_across_clouds_lists_each_vm(browser, live_server_url, world, sandbox_accounts):
    on_aws = sandbox_vm(world, sandbox_accounts["aws"], "bulk-aws")
    on_azure = sandbox_vm(world, sandbox_accounts["azure"], "bulk-azure")
    idle = sandbox_vm(world, sandbox_accounts["gcp"], "bulk-gcp")
    services.vm_stop(vm_id=idle.pk, actor=world.owner)
    page = new_page(browser, live_server_url, world.operator)
    page.goto(reverse("vm-list", args=[world.workspace.slug]))
    mark_page(page)
    for vm in (on_aws, on_azure, idle):
        page.get_by_label(f"Select {vm.name}").check()
    page.locator("#bulk-form").get_by_role("button", name="Stop", exact=True).click()
    results = page.locator("#bulk-results")
    expect(results).to_contain_text("Stop: 2 of 3 done")
    expect(results).to_contain_text("Stopping bulk-aws.")
    expect(results).to_contain_text("Stopping bulk-azure.")
    expect(results).to_contain_text("Cannot stop bulk-gcp: it is stopp")
    for vm in (on_aws, on_azure):
        expect(page.locator(f"#vm-{vm.pk} .badge")).to_have_text(re.compile("Stopping|Stopped"))
    assert_not_reloaded(page)


def test_viewer_sees_no_buttons_and_a_direct_post_is_refused(browser, live_server_url, world, sandbox_accounts):
    vm = sandbox_vm(world, sandbox_accounts["gcp"], "read-only-1")
    page = new_page(browser, live_server_url, world.viewer)
    page.goto(reverse("vm-list", args=[world.workspace.slug]))
    expect(page.locator(f"#vm-{vm.pk}")).to_be_visible()
    assert page.locator("button[data-action]").count() == 0 and page.locator("#bulk-form").count() == 0
    page.goto(reverse("vm-detail", args=[vm.pk]))
    expect(page.locator(f"#vm-{vm.pk}-status .badge")).to_have_text("Running")
    assert page.locator("button[data-action]").count() == 0
    assert page.get_by_role("link", name="Edit name and metadata").count() == 0

    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    response = page.request.post(f"{live_server_url}{reverse('vm-action', args=[vm.pk, 'stop'])}",
                                 headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status == 403 and "does not allow you to stop read-only-1" in response.text()
    assert VM.objects.get(pk=vm.pk).status == VMStatus.RUNNING


def test_another_workspaces_vm_is_not_found(browser, live_server_url, world):
    foreign = factories.make_vm(world.other_account, "not-yours", status=VMStatus.TERMINATED)  # never polled
    page = new_page(browser, live_server_url, world.owner)
    response = page.goto(reverse("vm-detail", args=[foreign.pk]))
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "not-yours" not in page.content()


def test_bad_form_input_shows_the_field_errors(browser, live_server_url, world, sandbox_accounts):
    page = new_page(browser, live_server_url, world.admin)
    page.goto(reverse("vm-create", args=[world.workspace.slug]))
    choose(page, "account", str(sandbox_accounts["gcp"].pk), reloads_choices=True)
    page.get_by_label("Name").fill("ab")
    page.get_by_label("Key").first.fill("bad key!")
    page.get_by_label("Value").first.fill("x")
    page.get_by_role("button", name="Create VM").click()
    expect(page.locator(".form-errors")).to_contain_text("Please correct the fields marked below.")
    name_field = page.locator(".field", has=page.locator("#id_name"))
    expect(name_field.locator(".field-error")).to_contain_text("at least 3 characters")
    expect(page.locator(".field", has=page.locator("#id_region")).locator(".field-error")).to_have_text("This field is required.")
    expect(page.locator("fieldset.metadata .field-error")).to_contain_text("must be 1 to 63 characters")
    expect(page.locator("#id_name")).to_have_value("ab")
    expect(page.get_by_label("Key").first).to_have_value("bad key!")
    expect(page.locator("#id_account")).to_have_value(str(sandbox_accounts["gcp"].pk))
    expect(page.locator("#id_region option[value='us-central1']")).to_have_count(1)  # choices of the chosen cloud
    assert not VM.objects.exists()


PAGES = {
    "overview": lambda world, vm: reverse("workspace", args=[world.workspace.slug]),
    "vm-list": lambda world, vm: reverse("vm-list", args=[world.workspace.slug]),
    "vm-detail": lambda world, vm: reverse("vm-detail", args=[vm.pk]),
    "vm-create": lambda world, vm: reverse("vm-create", args=[world.workspace.slug]),
    "members": lambda world, vm: reverse("members", args=[world.workspace.slug]),
    "accounts": lambda world, vm: reverse("accounts", args=[world.workspace.slug]),
}


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_fit_the_screen_label_every_control_and_show_focus(browser, live_server_url, world, sandbox_accounts, width):
    vm = sandbox_vm(world, sandbox_accounts["aws"], "responsive-1", metadata={"team": "web", "owner": "platform-team"})
    VM.objects.filter(pk=vm.pk).update(last_error="Stop failed: the request was throttled (RequestLimitExceeded).")
    sandbox_vm(world, sandbox_accounts["azure"], "responsive-2-with-a-rather-long-name-for-narrow-screens")
    page = new_page(browser, live_server_url, world.owner, width=width)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, url in PAGES.items():
        page.goto(url(world, vm))
        # caret="initial": Playwright's caret hiding writes a style attribute that htmx may re-parse, which the
        # strict CSP then (rightly) refuses: a test artefact, not the page's
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True, caret="initial")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
            .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.name || el.id)""")
        assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const el = document.activeElement, style = getComputedStyle(el);
            return {text: el.textContent.trim(), outline: style.outlineStyle, width: parseFloat(style.outlineWidth)}; }""")
        assert focused["text"] == "Skip to content" and focused["outline"] != "none" and focused["width"] >= 2, (name, focused)
