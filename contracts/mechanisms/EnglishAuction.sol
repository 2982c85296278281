// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RankResult} from "../IAuctionHouse.sol";
import {IAuctionMechanism} from "../IAuctionMechanism.sol";

/// @title EnglishAuction
/// @notice Open ascending auction: a bid must reach the reserve and beat the highest by the
///         increment (and strictly); the highest bidder pays its own bid.
contract EnglishAuction is IAuctionMechanism {
    /// @inheritdoc IAuctionMechanism
    function traits() external pure returns (bool sealedBids, bool secondPriced) {
        return (false, false);
    }

    /// @inheritdoc IAuctionMechanism
    function rank(Standing calldata first, Standing calldata, Standing calldata bid, uint256 reserve, uint256 increment)
        external
        pure
        returns (RankResult status, Standing memory newFirst, Standing memory newSecond)
    {
        if (bid.amount < reserve) return (RankResult.BelowReserve, first, newSecond);
        if (first.bidder != address(0) && (bid.amount <= first.amount || bid.amount - first.amount < increment)) {
            return (RankResult.BelowPrice, first, newSecond);
        }
        return (RankResult.Accepted, bid, first);
    }

    /// @inheritdoc IAuctionMechanism
    function price(Standing calldata first, Standing calldata, uint256) external pure returns (uint256) {
        return first.amount;
    }

    /// @inheritdoc IAuctionMechanism
    function name() external pure returns (string memory) {
        return "english";
    }
}
