import pytest

from vms.providers import registry
from vms.providers.base import AccountConfig, UnknownProvider


def test_unknown_provider_is_a_clear_error():
    with pytest.raises(UnknownProvider, match="expected one of aws, gcp, azure"):
        registry.adapter_for(AccountConfig(provider="ibm", name="x"))


def test_account_config_repr_hides_credentials():
    config = AccountConfig(provider="aws", name="prod", credentials={"secret_access_key": "s3cr3t"})
    assert "s3cr3t" not in repr(config)
