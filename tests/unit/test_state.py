"""Every action x status pair of the transition table, written out independently of vms/state.py."""
import pytest

from vms import state
from vms.state import InvalidTransition, VMStatus

S = VMStatus
EXPECTED = {
    "start": {S.STOPPED, S.ERROR},
    "stop": {S.RUNNING},
    "restart": {S.RUNNING, S.STOPPED},
    "terminate": {S.PENDING, S.STARTING, S.RUNNING, S.STOPPING, S.STOPPED, S.ERROR},
}
PAIRS = [(action, status) for action in EXPECTED for status in VMStatus]


@pytest.mark.parametrize(("action", "status"), PAIRS, ids=[f"{a}-from-{s.value}" for a, s in PAIRS])
def test_transition_table_pair(action, status):
    allowed = status in EXPECTED[action]
    assert state.is_allowed(action, status) is allowed
    if allowed:
        state.ensure_allowed(action, status)
    else:
        with pytest.raises(InvalidTransition) as caught:
            state.ensure_allowed(action, status)
        assert caught.value.current == status
        assert status.value in str(caught.value)


def test_allowed_actions_lists_only_legal_ones():
    assert state.allowed_actions(S.RUNNING) == ["stop", "restart", "terminate"]
    assert state.allowed_actions(S.STOPPED) == ["start", "restart", "terminate"]
    assert state.allowed_actions(S.TERMINATED) == []
    assert state.allowed_actions(S.TERMINATING) == []


def test_unknown_action_is_never_allowed():
    assert not state.is_allowed("explode", S.RUNNING)


def test_transitional_and_settled_partition_the_statuses():
    assert state.TRANSITIONAL | state.SETTLED == set(VMStatus)
    assert not state.TRANSITIONAL & state.SETTLED
    assert state.is_transitional(S.STOPPING) and not state.is_transitional(S.STOPPED)


@pytest.mark.parametrize(
    ("status", "provisioned", "deletable"),
    [(S.TERMINATED, True, True), (S.ERROR, False, True), (S.ERROR, True, False), (S.PENDING, False, False), (S.RUNNING, True, False), (S.STOPPED, True, False)],
)
def test_delete_only_once_terminated_or_never_provisioned(status, provisioned, deletable):
    assert state.can_delete(status, provisioned=provisioned) is deletable


def test_invalid_transition_carries_current_status_and_allowed_actions():
    error = InvalidTransition("stop", "stopped")
    assert error.current == S.STOPPED
    assert error.allowed_actions == ["start", "restart", "terminate"]
