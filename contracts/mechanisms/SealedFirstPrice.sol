// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RankResult} from "../IAuctionHouse.sol";
import {IAuctionMechanism} from "../IAuctionMechanism.sol";

/// @title SealedFirstPrice
/// @notice Sealed-bid first-price auction, bids by commit-reveal. The highest revealed bid at or
///         above the reserve wins and pays its own bid. Ties keep the earlier reveal ahead. With
///         a partial bond the house keeps the runner-up, which pays its own bid if the winner
///         defaults.
contract SealedFirstPrice is IAuctionMechanism {
    /// @inheritdoc IAuctionMechanism
    function traits() external pure returns (bool sealedBids, bool secondPriced) {
        return (true, false);
    }

    /// @inheritdoc IAuctionMechanism
    function rank(Standing calldata first, Standing calldata second, Standing calldata bid, uint256 reserve, uint256)
        external
        pure
        returns (RankResult status, Standing memory newFirst, Standing memory newSecond)
    {
        if (bid.amount < reserve) return (RankResult.BelowReserve, first, second);
        if (first.bidder == address(0) || bid.amount > first.amount) return (RankResult.Accepted, bid, first);
        if (second.bidder == address(0) || bid.amount > second.amount) return (RankResult.Accepted, first, bid);
        return (RankResult.Accepted, first, second);
    }

    /// @inheritdoc IAuctionMechanism
    function price(Standing calldata first, Standing calldata, uint256) external pure returns (uint256) {
        return first.amount;
    }

    /// @inheritdoc IAuctionMechanism
    function name() external pure returns (string memory) {
        return "sealed-first-price";
    }
}
