"""Issue 12 case 4, buyer side: an opened access key is checked against the registry's
token-signing key and the sale on chain before any client uses it."""

from __future__ import annotations

import pytest

from exchange.crypto import AccessClaims, generate_ed25519, issue_token
from exchange.crypto.delivery import check_delivered
from exchange.crypto.tokens import TokenError, TokenFailure, verify_delivered

DEVICE = "ab" * 20 + "00" * 12
WINNER = "0x" + "12" * 20
SALE = {"device_id": DEVICE, "auction_id": 7, "buyer": WINNER, "access_until": 2_000}


@pytest.fixture(scope="module")
def keys():
    return generate_ed25519(), generate_ed25519()


def _token(private, **over) -> str:
    c = {"device_id": DEVICE, "auction_id": 7, "buyer": WINNER, "not_before": 1_000, "not_after": 2_000, **over}
    return issue_token(private, AccessClaims(**c))


def test_a_key_signed_by_the_registered_key_for_this_sale_verifies(keys):
    (sk, pk), _ = keys
    claims = verify_delivered(_token(sk), pk, **SALE)
    assert (claims.auction_id, claims.not_after) == (7, 2_000)


def test_a_key_signed_by_another_key_is_refused(keys):
    (_, pk), (other_sk, _) = keys
    with pytest.raises(TokenError) as err:
        verify_delivered(_token(other_sk), pk, **SALE)
    assert err.value.reason is TokenFailure.BAD_SIGNATURE


@pytest.mark.parametrize("over", [{"auction_id": 8}, {"buyer": "0x" + "34" * 20}, {"not_after": 2_001},
                                  {"device_id": "cd" * 20 + "00" * 12}])
def test_a_key_for_another_auction_winner_period_or_device_is_refused(keys, over):
    (sk, pk), _ = keys
    with pytest.raises(TokenError) as err:
        verify_delivered(_token(sk, **over), pk, **SALE)
    assert err.value.reason in (TokenFailure.WRONG_SALE, TokenFailure.WRONG_DEVICE)


@pytest.mark.parametrize("garbage", ["", "\x00", "tb1.AAAA.BBBB", "not a token at all"])
def test_garbage_is_refused_in_one_line_that_says_what_to_do(keys, garbage):
    (_, pk), _ = keys
    claims, problem = check_delivered(garbage, pk, device_id=DEVICE, auction_id=7, winner=WINNER, access_until=2_000,
                                      challenge_end=1_800_000_000)
    assert claims is None and "\n" not in problem
    assert "auction 7 does not verify" in problem and "it is not used" in problem and "2027-01-15" in problem
