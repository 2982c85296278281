// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {RankResult} from "./IAuctionHouse.sol";

/// @title IAuctionMechanism
/// @notice A pluggable auction rule. The AuctionHouse keeps every wei and all state; a mechanism
///         is a pure rule that decides ordering (who stands first and second) and price. A new
///         mechanism is one contract implementing this interface plus `registerMechanism`.
interface IAuctionMechanism {
    /// @notice A standing bid: who and how much (amount fits 88 bits).
    struct Standing {
        address bidder;
        uint88 amount;
    }

    /// @notice Static traits, read once when an auction opens.
    /// @return sealedBids true if bids arrive as commit-reveal (no anti-sniping extension)
    /// @return secondPriced true if the price depends on the second standing bid
    function traits() external pure returns (bool sealedBids, bool secondPriced);

    /// @notice Rank a new (open or revealed) bid against the current first and second standings.
    /// @param first the current highest standing (bidder 0 = none)
    /// @param second the current second standing (bidder 0 = none or not tracked)
    /// @param bid the new bid
    /// @param reserve the auction's reserve price
    /// @param increment the minimum raise over `first` (open mechanisms)
    /// @return status Accepted, or why the bid does not qualify (the house releases its lock)
    /// @return newFirst the highest standing afterwards
    /// @return newSecond the second standing afterwards
    function rank(Standing calldata first, Standing calldata second, Standing calldata bid, uint256 reserve, uint256 increment)
        external
        pure
        returns (RankResult status, Standing memory newFirst, Standing memory newSecond);

    /// @notice The price `first` pays, given `second` and the reserve.
    /// @param first the winning standing
    /// @param second the next standing (bidder 0 = none)
    /// @param reserve the auction's reserve price
    /// @return price at most first.amount and at least reserve
    function price(Standing calldata first, Standing calldata second, uint256 reserve) external pure returns (uint256);

    /// @notice A short human-readable name, e.g. "english".
    function name() external pure returns (string memory);
}
