// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RankResult} from "../IAuctionHouse.sol";
import {IAuctionMechanism} from "../IAuctionMechanism.sol";

/// @title SealedSecondPrice
/// @notice Sealed-bid second-price (Vickrey) auction, bids by commit-reveal. The highest revealed
///         bid wins and pays the larger of the second-highest revealed bid and the reserve.
///         Ties keep the earlier reveal ahead.
contract SealedSecondPrice is IAuctionMechanism {
    /// @inheritdoc IAuctionMechanism
    function traits() external pure returns (bool sealedBids, bool secondPriced) {
        return (true, true);
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
        // Accepted as valid but outside the top two: the house releases its lock at once.
        return (RankResult.Accepted, first, second);
    }

    /// @inheritdoc IAuctionMechanism
    function price(Standing calldata first, Standing calldata second, uint256 reserve) external pure returns (uint256) {
        uint256 p = second.bidder == address(0) ? 0 : second.amount;
        if (p < reserve) p = reserve;
        return p > first.amount ? first.amount : p;
    }

    /// @inheritdoc IAuctionMechanism
    function name() external pure returns (string memory) {
        return "sealed-second-price";
    }
}
