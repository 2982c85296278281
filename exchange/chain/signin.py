"""Sign-In with Ethereum (EIP-4361): check a signed sign-in message against what this site expects.

The `siwe` package parses the message (ABNF grammar) and recovers the EIP-191 signer; it imports
web3, so it lives here with the rest of the web3 users. What the package leaves to the relying party
is checked here: the nonce is one this site issued (single use, the caller's store), the URI is this
site's origin, the chain id is the chain this site serves, and an expiry is present, in the future
and no further away than ``max_lifetime_s``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

with warnings.catch_warnings():
    # siwe 4.4.0's grammar restates RFC 5234 core rules; abnf 2.8 warns once at import. Harmless.
    warnings.filterwarnings("ignore", module="abnf")
    from siwe import SiweMessage
    from siwe import siwe as siwe_errors

from exchange.errors import ExchangeError

__all__ = ["SignInRefused", "SignInPolicy", "verify_sign_in"]

MAX_MESSAGE_CHARS = 4096


class SignInRefused(ExchangeError, ValueError):
    """A sign-in message or signature is not acceptable; ``reason`` is a short machine name."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class SignInPolicy:
    """What this site accepts: its host (``domain``), its origin (``uri`` must be under it), its chain."""

    domain: str
    origin: str
    chain_id: int
    max_lifetime_s: int = 900
    clock_skew_s: int = 60


def _parse(message: str) -> SiweMessage:
    if not isinstance(message, str) or not message or len(message) > MAX_MESSAGE_CHARS:
        raise SignInRefused("malformed", f"the sign-in message must be text of at most {MAX_MESSAGE_CHARS} characters")
    try:
        return SiweMessage.from_message(message)
    except Exception as exc:  # noqa: BLE001 - the parser raises many kinds (ABNF, pydantic, ValueError)
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise SignInRefused("malformed", f"the sign-in message is not EIP-4361 ({first})") from None


def _same_origin(uri: str, origin: str) -> bool:
    u, o = urlsplit(uri), urlsplit(origin)
    return (u.scheme, u.netloc.lower()) == (o.scheme, o.netloc.lower())


def verify_sign_in(message: str, signature: str, policy: SignInPolicy,
                   take_nonce: Callable[[str], bool], now: datetime | None = None) -> str:
    """The checksummed address that signed ``message``, or ``SignInRefused`` naming why not.

    ``take_nonce(nonce)`` consumes the nonce and answers whether this site issued it and it was
    still unused; it is called only once the message parses, so garbage burns no nonce.
    """
    msg = _parse(message)
    now = now or datetime.now(UTC)
    if msg.domain != policy.domain:
        raise SignInRefused("domain", f"the message is for {msg.domain!r}, this site is {policy.domain!r}")
    if not _same_origin(str(msg.uri), policy.origin):
        raise SignInRefused("uri", f"the message URI {str(msg.uri)!r} is not on this site ({policy.origin})")
    if int(msg.chain_id) != int(policy.chain_id):
        raise SignInRefused("chain", f"the message is for chain {msg.chain_id}, this site serves chain {policy.chain_id}:"
                                     " switch your wallet's network")
    if msg.expiration_time is None:
        raise SignInRefused("expiry", "the message has no Expiration Time")
    expires = msg.expiration_time._datetime
    issued = msg.issued_at._datetime
    if expires <= now:
        raise SignInRefused("expired", "the sign-in message has expired: sign in again")
    if issued > now + timedelta(seconds=policy.clock_skew_s):
        raise SignInRefused("issued_at", "the message is issued in the future: check your clock")
    if expires - max(issued, now - timedelta(seconds=policy.clock_skew_s)) > timedelta(seconds=policy.max_lifetime_s):
        raise SignInRefused("expiry", f"the message may live at most {policy.max_lifetime_s} s")
    if not take_nonce(msg.nonce):
        raise SignInRefused("nonce", "the nonce was not issued by this site, was used already or is too old:"
                                     " sign in again")
    if not isinstance(signature, str) or len(signature) > 1024:
        raise SignInRefused("signature", "the signature must be a hex string")
    try:
        msg.verify(signature, domain=policy.domain, nonce=msg.nonce, timestamp=now)
    except siwe_errors.ExpiredMessage:
        raise SignInRefused("expired", "the sign-in message has expired: sign in again") from None
    except siwe_errors.NotYetValidMessage:
        raise SignInRefused("not_before", "the sign-in message is not valid yet") from None
    except siwe_errors.VerificationError:
        raise SignInRefused("signature", "the signature does not match the message and its address") from None
    except (ValueError, TypeError):
        raise SignInRefused("signature", "the signature is not a valid hex signature") from None
    return msg.address
