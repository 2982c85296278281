"""Encrypted, signed, hash-chained device data channels and their micro-purchase protocol.

- ``channel``: ``ChannelWriter`` (device), ``ChannelReader`` (strict, from a ``ChannelRoot``)
- ``follow``: ``ChannelFollower`` reads a channel from any ``Ledger`` (reorder buffer, forgeries dropped)
- ``protocol``: offers, purchase memos, the sale decision (pure)
- ``seller``: ``StreamSeller`` (device agent), ``buyer``: ``StreamBuyer``
"""

from exchange.streams.buyer import Purchase, StreamBuyer
from exchange.streams.channel import ChannelReader, ChannelRoot, ChannelWriter, Reading, channel_id
from exchange.streams.errors import (
    BrokenLink,
    ForgedMessage,
    GapDetected,
    MalformedMessage,
    NoReadKey,
    PurchaseError,
    PurchaseTimeout,
    ReorderedMessage,
    SaleRefused,
    StreamError,
)
from exchange.streams.follow import ChannelFollower
from exchange.streams.protocol import Offer, PurchaseRequest, decide
from exchange.streams.records import DeviceRecord, DeviceRecords, RegistryRecords, offer_refusal
from exchange.streams.seller import SaleRecord, StreamSeller

__all__ = ["Purchase", "StreamBuyer", "ChannelReader", "ChannelRoot", "ChannelWriter", "Reading", "channel_id",
           "BrokenLink", "ForgedMessage", "GapDetected", "MalformedMessage", "NoReadKey", "PurchaseError",
           "PurchaseTimeout", "ReorderedMessage", "SaleRefused", "StreamError", "ChannelFollower", "Offer",
           "PurchaseRequest", "decide", "SaleRecord", "StreamSeller", "DeviceRecord", "DeviceRecords",
           "RegistryRecords", "offer_refusal"]
