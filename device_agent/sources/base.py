"""The one interface every device source implements, and what it hands the agent.

A source knows what it offers (a ``Profile``: properties with JSON schemas and units, events)
and delivers readings and events to a ``Sink`` (the recorder) while it runs. ``read`` asks the
source for a fresh value of one property (a proxied read for a WoT Thing, the last message for
MQTT, the simulated value now for a simulator).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from device_agent.errors import AgentError
from device_agent.profiles import Profile


class SourceError(AgentError, RuntimeError):
    """The source is unreachable, refused the credentials, or sent something unusable."""


@dataclass(frozen=True)
class Reading:
    name: str
    t: float  # unix seconds
    value: Any


class Sink(Protocol):
    """Where a running source puts what it sees (the recorder)."""

    def reading(self, name: str, t: float, value: Any) -> None: ...

    def event(self, name: str, t: float, data: dict) -> None: ...


class Source(abc.ABC):
    """A device source: its offer, fresh reads, and a feed of readings/events while started."""

    KIND: ClassVar[str] = ""

    @abc.abstractmethod
    def offer(self) -> Profile:
        """Everything the source can sell (before the owner's choice of properties/events)."""

    @abc.abstractmethod
    def read(self, name: str) -> Reading:
        """A fresh reading of property ``name`` (UnknownPropertyError for a name not offered)."""

    @abc.abstractmethod
    def start(self, sink: Sink) -> None:
        """Begin delivering readings and events to ``sink`` (returns at once; threads behind)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop delivering; idempotent."""

    def check(self) -> str:
        """One line on the source's health for ``device-agent doctor`` (SourceError when broken)."""
        prof = self.offer()
        name = prof.properties[0].name
        self.read(name)
        return f"{self.KIND}: {len(prof.properties)} properties, {len(prof.events)} events; read {name!r}"
