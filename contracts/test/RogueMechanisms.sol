// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RankResult} from "../IAuctionHouse.sol";
import {IAuctionMechanism} from "../IAuctionMechanism.sol";

/// @title RogueRanker (tests only)
/// @notice Ranks a bidder who never bid into first place: the house must refuse with
///         MechanismMisbehaved rather than credit a stranger.
contract RogueRanker is IAuctionMechanism {
    address private constant STRANGER = address(0xdEaD);

    /// @inheritdoc IAuctionMechanism
    function traits() external pure returns (bool sealedBids, bool secondPriced) {
        return (false, false);
    }

    /// @inheritdoc IAuctionMechanism
    function rank(Standing calldata first, Standing calldata, Standing calldata bid, uint256, uint256)
        external
        pure
        returns (RankResult status, Standing memory newFirst, Standing memory newSecond)
    {
        return (RankResult.Accepted, Standing(STRANGER, bid.amount), first);
    }

    /// @inheritdoc IAuctionMechanism
    function price(Standing calldata first, Standing calldata, uint256) external pure returns (uint256) {
        return first.amount;
    }

    /// @inheritdoc IAuctionMechanism
    function name() external pure returns (string memory) {
        return "rogue-ranker";
    }
}

/// @title RoguePricer (tests only)
/// @notice Ranks like an English auction but prices the winner above its own bid: the house must
///         refuse to settle with MechanismMisbehaved rather than take more than was bid.
contract RoguePricer is IAuctionMechanism {
    /// @inheritdoc IAuctionMechanism
    function traits() external pure returns (bool sealedBids, bool secondPriced) {
        return (false, false);
    }

    /// @inheritdoc IAuctionMechanism
    function rank(Standing calldata first, Standing calldata, Standing calldata bid, uint256 reserve, uint256)
        external
        pure
        returns (RankResult status, Standing memory newFirst, Standing memory newSecond)
    {
        if (bid.amount < reserve || bid.amount <= first.amount) return (RankResult.BelowReserve, first, newSecond);
        return (RankResult.Accepted, bid, first);
    }

    /// @inheritdoc IAuctionMechanism
    function price(Standing calldata first, Standing calldata, uint256) external pure returns (uint256) {
        return uint256(first.amount) + 1;
    }

    /// @inheritdoc IAuctionMechanism
    function name() external pure returns (string memory) {
        return "rogue-pricer";
    }
}
