"""Shared fixtures. Tests that need PostgreSQL, Redis or chromium carry a marker: on a laptop without the
service they skip with the reason; in CI (CI=true) the same condition fails the test instead."""
import os
import shutil

import pytest
from django.conf import settings

from tests import factories
from tests.fakes import FakeCloud
from vms import cloud
from vms.providers import registry

IN_CI = os.environ.get("CI", "").lower() == "true"
# Servers the tests start as subprocesses (daphne, poll_providers) read this from the environment.
os.environ.setdefault("SKYCLUST_FAST_PASSWORD_HASHER", "true")
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)


def uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        require(uses_postgres(), "it needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test")
    if item.get_closest_marker("redis"):
        require(bool(settings.REDIS_URL), "it needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    if item.get_closest_marker("browser"):
        require(chromium_path() is not None, "it needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(autouse=True)
def _fresh_adapter_cache():
    cloud.clear_cache()
    yield
    cloud.clear_cache()


@pytest.fixture
def fake_cloud():
    """An in-memory double of the provider protocol for all three names, for service-level tests."""
    fake = FakeCloud()
    for name in ("aws", "gcp", "azure"):
        registry.override(name, fake.adapter_class(name))
    yield fake
    for name in ("aws", "gcp", "azure"):
        registry.override(name, None)


@pytest.fixture
def world(db):
    """Two workspaces and the four roles: the permission matrix every view and endpoint is tested with."""
    return factories.build_world()


@pytest.fixture(scope="session")
def sandboxes():
    """The three cloud emulators on loopback ports, shared by the session (tests use distinct VM ids)."""
    from vms.sandbox import start_all

    with start_all() as running:
        yield running


@pytest.fixture
def sandbox_accounts(world, sandboxes):
    """A cloud account per provider in world.workspace, pointing at the emulators with valid credentials."""
    from workspaces import services as workspace_services

    accounts = {}
    for provider in ("aws", "gcp", "azure"):
        config = sandboxes.account_config(provider, f"{provider}-sandbox-{world.workspace.slug}")
        accounts[provider] = workspace_services.account_create(
            workspace=world.workspace, provider=provider, name=f"{provider}-sandbox", actor=None, authorize=False,
            credentials=config.credentials, settings=config.settings, endpoint_url=config.endpoint_url,
        )
    return accounts


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """No persistent connections in tests: threads of channels' and asgiref's executors would otherwise keep
    the test database open at teardown (PostgreSQL then refuses to drop it)."""
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
