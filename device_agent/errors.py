"""Errors of the device agent (all ExchangeError + the matching builtin)."""

from __future__ import annotations

from exchange.errors import ExchangeError


class AgentError(ExchangeError):
    """Root of every deliberate device-agent failure."""


class AgentConfigError(AgentError, ValueError):
    """The agent's config is missing, malformed or has a bad value."""


class NotInitialisedError(AgentError, RuntimeError):
    """The data dir has no identity yet: run `device-agent init`."""


class NotEnabledError(AgentError, RuntimeError):
    """The owner has not opted in (`device-agent enable`): nothing may be checked in or sold."""


class UnknownApplianceError(AgentConfigError):
    """No simulator/profile of that appliance kind."""


class UnknownPropertyError(AgentError, KeyError):
    """The appliance has no property (or event) of that name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class NoChainError(AgentError, RuntimeError):
    """The command needs the chain but the agent is not connected to one."""


class NotRecordOwnerError(AgentError, PermissionError):
    """The registry lists this device under another account: the agent attests, sells and delivers nothing."""
