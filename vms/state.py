"""The VM statuses and the one transition table.

Buttons, services, the API, admin and the poller all ask this module; a new rule is one line here.
Pure Python (no Django import) so the provider adapters can use it too.
"""
from enum import StrEnum


class VMStatus(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    ERROR = "error"

    @property
    def label(self) -> str:
        return self.value.capitalize()


STATUS_CHOICES = [(status.value, status.label) for status in VMStatus]

TRANSITIONAL = frozenset({VMStatus.PENDING, VMStatus.STARTING, VMStatus.STOPPING, VMStatus.TERMINATING})
SETTLED = frozenset(VMStatus) - TRANSITIONAL

# action -> statuses it may start from
ALLOWED_FROM: dict[str, frozenset[VMStatus]] = {
    "start": frozenset({VMStatus.STOPPED, VMStatus.ERROR}),
    "stop": frozenset({VMStatus.RUNNING}),
    "restart": frozenset({VMStatus.RUNNING, VMStatus.STOPPED}),
    "terminate": frozenset(VMStatus) - {VMStatus.TERMINATED, VMStatus.TERMINATING},
}

# action -> the status the VM shows while the cloud works on it
TRANSITIONAL_STATUS: dict[str, VMStatus] = {
    "start": VMStatus.STARTING,
    "stop": VMStatus.STOPPING,
    "restart": VMStatus.STARTING,
    "terminate": VMStatus.TERMINATING,
}

LIFECYCLE_ACTIONS = tuple(ALLOWED_FROM)


class InvalidTransition(Exception):
    """An action that the transition table does not allow from the VM's current status."""

    def __init__(self, action: str, current: str):
        self.action = action
        self.current = VMStatus(current)
        self.allowed_actions = allowed_actions(current)
        super().__init__(f"Cannot {action} a VM that is {self.current.value}.")


def is_allowed(action: str, status: str) -> bool:
    return action in ALLOWED_FROM and VMStatus(status) in ALLOWED_FROM[action]


def ensure_allowed(action: str, status: str) -> None:
    if not is_allowed(action, status):
        raise InvalidTransition(action, status)


def allowed_actions(status: str) -> list[str]:
    return [action for action in LIFECYCLE_ACTIONS if is_allowed(action, status)]


def is_transitional(status: str) -> bool:
    return VMStatus(status) in TRANSITIONAL


def can_delete(status: str, *, provisioned: bool) -> bool:
    """A VM row may go once its instance is terminated, or when no instance was ever made."""
    status = VMStatus(status)
    # A pending row without an instance may be a create still in flight: terminate it first.
    return status == VMStatus.TERMINATED or (not provisioned and status == VMStatus.ERROR)


def ensure_deletable(status: str, *, provisioned: bool) -> None:
    if not can_delete(status, provisioned=provisioned):
        raise InvalidTransition("delete", status)
