"""One Ledger protocol, two ledgers: ``TangleLedger`` (feeless) and ``EthereumLedger``."""

from exchange.ledger.base import (
    Confirmation,
    ConfirmationTimeout,
    Ledger,
    LedgerError,
    LedgerRejected,
    Message,
    Payment,
    wait_confirmed,
)

__all__ = ["Confirmation", "ConfirmationTimeout", "Ledger", "LedgerError", "LedgerRejected", "Message", "Payment",
           "wait_confirmed"]
