"""The one exception root of the exchange package.

Every error the exchange raises on purpose is an ``ExchangeError``; subclasses also
inherit the matching built-in so callers may catch either.
"""


class ExchangeError(Exception):
    """Root of every deliberate error in ``exchange``."""


class ConfigError(ExchangeError, ValueError):
    """A setting is missing or has a bad value."""


class CompilerError(ExchangeError, RuntimeError):
    """No usable Solidity compiler, or the sources do not compile."""


class ArtifactError(ExchangeError, RuntimeError):
    """A compiled artifact is missing or stale against its source."""


class ChainConnectionError(ExchangeError, ConnectionError):
    """The EVM JSON-RPC endpoint cannot be reached."""


class KeystoreError(ExchangeError, ValueError):
    """A keystore is missing, unreadable, or its password is wrong or missing."""


class DeploymentError(ExchangeError, RuntimeError):
    """A deployment could not be made or reused."""


class InsufficientFundsError(ExchangeError, RuntimeError):
    """The sending account cannot pay for a transaction (value plus gas)."""


class ContractRevert(ExchangeError, RuntimeError):
    """A contract call reverted; ``error`` is the custom error name, ``args`` its decoded arguments."""

    def __init__(self, error: str, args: tuple = (), message: str | None = None):
        self.error = error
        self.error_args = tuple(args)
        super().__init__(message or f"{error}({', '.join(map(repr, self.error_args))})")
