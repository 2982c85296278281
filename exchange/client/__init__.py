"""The data scientist's client library (docs/client.md): ``from exchange.client import Exchange``."""

from exchange.client.errors import ClientError, ClientInputError, DeviceReadError, NotFoundError, WaitTimeout
from exchange.client.exchange import Exchange, Plan, StreamMessage
from exchange.client.reader import Key

__all__ = ["ClientError", "ClientInputError", "DeviceReadError", "Exchange", "Key", "NotFoundError", "Plan",
           "StreamMessage", "WaitTimeout"]
