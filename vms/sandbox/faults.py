"""Fault injection shared by the three cloud emulators: error rate, throttling with Retry-After, latency."""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Faults:
    error_rate: float = 0.0  # share of calls answered with a 5xx
    throttle_next: int = 0  # the next N calls are throttled, then calls succeed again
    throttle_always: bool = False
    retry_after: float = 1.0  # seconds, sent with every throttled answer
    latency_ms: float = 0.0  # added to every call
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def configure(self, **values) -> None:
        with self._lock:
            for name, value in values.items():
                if name.startswith("_") or not hasattr(self, name):
                    raise ValueError(f"unknown fault setting {name!r}")
                setattr(self, name, type(getattr(self, name))(value))

    def reset(self) -> None:
        self.configure(error_rate=0.0, throttle_next=0, throttle_always=False, retry_after=1.0, latency_ms=0.0)

    def decide(self) -> str | None:
        """Sleep for the configured latency, then return "throttle", "error" or None for this call."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        with self._lock:
            if self.throttle_always:
                return "throttle"
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return "throttle"
        if self.error_rate and random.random() < self.error_rate:
            return "error"
        return None
