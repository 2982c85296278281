"""The relay (``thingbid relay``): devices behind NAT connect out, buyers reach them here.

- ``protocol``: pure logic: frames on the agent's WebSocket, the hello challenge and its
  signature, pseudonym parsing, limits.
- ``server``: the aiohttp service: ``/agent`` (the agents' WebSocket) and
  ``/devices/<pseudonym>/...`` (the devices' WoT APIs, forwarded byte for byte).
- ``keys``: where a device's registered Ed25519 key comes from (the registry record on chain).

See docs/architecture.md ("The relay") for what a relay operator can and cannot learn.
"""

from exchange.relay.protocol import RelayError, RelayProtocolError

__all__ = ["RelayError", "RelayProtocolError"]
