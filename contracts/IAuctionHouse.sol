// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// The auction vocabulary, declared once. Python loads these enums from the compiled artifact
// (exchange/chain/vocabulary.py): no other file spells their values out.

/// @notice Where an auction is in its life.
enum State {
    None, // never opened (unknown id)
    Open, // bidding (or committing, then revealing)
    AwaitingKey, // settled with a sale; the seller owes the key until the delivery deadline
    Delivered, // the key was delivered; the winner's access runs
    Reclaimed, // the key came late and the winner took its payment back
    Unsold, // closed without a sale
    Rated, // delivered, and the winner rated the device
    Cancelled // the device was checked out while the auction ran: everything refunded
}

/// @notice Why a bid of a batch was not placed (BidSkipped) or a strict batch reverted (BidRejected).
enum SkipReason {
    None, // placed (never emitted)
    NotOpen, // the auction is not open
    Closed, // outside the bidding (or reveal) time
    BelowReserve, // under the reserve price
    BelowPrice, // does not beat the standing price by the increment
    InsufficientFunds, // the free balance does not cover the bond (or deposit)
    WrongKind, // an open bid on a sealed auction, or a commit/reveal on an open one
    BadAmount, // zero, or above 2**88 - 1 wei
    BadCommit, // a zero commitment, or a second one by the same bidder
    BadReveal // no commitment, a wrong amount or salt, or a bond above the deposit
}

/// @notice A mechanism's verdict on a new bid (the house turns a refusal into a SkipReason).
enum RankResult {
    Accepted, // the bid is valid; the returned standings apply
    BelowReserve, // under the reserve price
    BelowPrice // does not beat the standing price as the rule requires
}

/// @title IAuctionHouse
/// @notice The house's public vocabulary: the terms and views it speaks in, every event it emits
///         and every error it reverts with. AuctionHouse implements it.
interface IAuctionHouse {
    /// @notice What an owner chooses when opening an auction (zero means "default" where noted).
    struct OpenParams {
        bytes32 deviceId;
        address mechanism;
        uint88 reserve;
        uint88 increment;
        uint40 biddingPeriod; // seconds from now; 1 .. 3650 days
        uint24 window; // open: anti-sniping extension (0 = none); sealed: reveal window (0 = 1 day)
        uint40 accessPeriod; // 0 = 30 days; at most 3650 days
        uint40 deliveryWindow; // 0 = 1 day; at most 7 days
        uint16 bondBps; // share of a bid locked while the auction runs; 0 = 10000 (full escrow)
    }

    /// @notice Everything about one auction. `time` is the bidding end while open, the delivery
    ///         deadline while awaiting the key, and accessUntil after delivery.
    struct AuctionView {
        bytes32 deviceId;
        address seller;
        address mechanism;
        State state;
        bool sealedBids;
        uint16 bondBps;
        uint256 time;
        uint256 window;
        uint256 reserve;
        uint256 increment;
        uint256 accessPeriod;
        uint256 deliveryWindow;
        address first; // highest bidder; the winner after settlement
        uint256 firstAmount; // its bid; the price after settlement
        address second;
        uint256 secondAmount;
        uint256 feeBps; // the protocol fee of this auction, fixed when it opened
    }

    // ---- events ----

    /// @notice `account` deposited `amount` into its free balance.
    event Deposited(address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount` from its free balance.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Governance allowed `mechanism`.
    event MechanismRegistered(address indexed mechanism);
    /// @notice Governance removed `mechanism` (running auctions keep it).
    event MechanismUnregistered(address indexed mechanism);
    /// @notice Governance changed the protocol fee.
    event FeeChanged(uint256 bps, address account);
    /// @notice Governance passed to `governance`.
    event GovernanceTransferred(address indexed governance);
    /// @notice `account` registered the X25519 public key keys are sealed to.
    event BuyerKeyRegistered(address indexed account, bytes32 x25519PublicKey);
    /// @notice An auction was opened; `feeBps` is its protocol fee, fixed for its whole life.
    event AuctionOpened(uint256 indexed auctionId, bytes32 indexed deviceId, address indexed seller, OpenParams params,
        uint256 biddingEnd, uint256 feeBps);
    /// @notice A bid now stands in `auctionId`.
    event BidPlaced(uint256 indexed auctionId, address indexed bidder, uint256 amount);
    /// @notice A bid of a batch was not placed, for `reason`.
    event BidSkipped(uint256 indexed auctionId, address indexed bidder, uint256 amount, SkipReason reason);
    /// @notice A late bid moved the bidding end (anti-sniping).
    event BiddingExtended(uint256 indexed auctionId, uint256 biddingEnd);
    /// @notice A sealed commitment was made and `deposit` locked.
    event BidCommitted(uint256 indexed auctionId, address indexed bidder, bytes32 commitment, uint256 deposit);
    /// @notice A commitment was opened; `ranked` says whether the bid qualified.
    event BidRevealed(uint256 indexed auctionId, address indexed bidder, uint256 amount, bool ranked);
    /// @notice An unrevealed commitment's deposit went to the protocol fee account.
    event CommitmentForfeited(uint256 indexed auctionId, address indexed bidder, uint256 deposit);
    /// @notice A winner that could not pay lost its bond to the seller.
    event BondForfeited(uint256 indexed auctionId, address indexed bidder, uint256 bond);
    /// @notice The auction closed with a sale; the key is due by `deliveryDeadline`.
    event AuctionSettled(uint256 indexed auctionId, address indexed winner, uint256 price, uint256 deliveryDeadline);
    /// @notice The auction closed without a sale.
    event AuctionUnsold(uint256 indexed auctionId);
    /// @notice The seller delivered the key sealed to the winner; the payment was credited.
    event KeyDelivered(uint256 indexed auctionId, address indexed winner, bytes sealedKey, uint256 accessUntil);
    /// @notice The key was not delivered in time and the winner took its payment back.
    event PaymentReclaimed(uint256 indexed auctionId, address indexed winner, uint256 amount);
    /// @notice The device was checked out while the auction ran: bids and payment were refunded.
    event AuctionCancelled(uint256 indexed auctionId, bytes32 indexed deviceId);
    /// @notice A cancelled auction's winner got its payment back (consent ended before delivery).
    event PaymentRefunded(uint256 indexed auctionId, address indexed winner, uint256 amount);
    /// @notice A cancelled sealed auction returned `bidder`'s commitment deposit.
    event CommitmentReleased(uint256 indexed auctionId, address indexed bidder, uint256 deposit);
    /// @notice The winner rated the device.
    event DeviceRated(bytes32 indexed deviceId, uint256 indexed auctionId, address indexed rater, uint8 score);

    // ---- errors ----

    /// @notice Only governance may call this.
    /// @param caller who called instead
    error NotGovernance(address caller);
    /// @notice A zero address where a contract or an account is required.
    error ZeroAddress();
    /// @notice The mechanism is not (or no longer) allow-listed.
    /// @param mechanism the address given
    error MechanismNotAllowed(address mechanism);
    /// @notice The mechanism is allow-listed already.
    /// @param mechanism the address given
    error MechanismAlreadyRegistered(address mechanism);
    /// @notice The mechanism broke its contract: it ranked a bidder who never bid, or priced a
    ///         winner above its own bid (or at zero). The call changes nothing.
    /// @param mechanism the offending mechanism
    error MechanismMisbehaved(address mechanism);
    /// @notice A protocol fee above the cap.
    /// @param bps the fee asked
    /// @param max the cap (1000 = 10%)
    error FeeTooHigh(uint256 bps, uint256 max);
    /// @notice Only the device's owner may open its auctions.
    /// @param deviceId the device
    /// @param caller who called
    /// @param owner its owner in the registry
    error NotDeviceOwner(bytes32 deviceId, address caller, address owner);
    /// @notice The device is checked out.
    /// @param deviceId the device
    error DeviceInactive(bytes32 deviceId);
    /// @notice A bond share above 10000 basis points.
    /// @param bps the share asked
    error BondOutOfRange(uint256 bps);
    /// @notice A bidding period of zero seconds.
    error BiddingPeriodZero();
    /// @notice A bidding period or access period above `max` seconds, or a delivery window above 7 days.
    /// @param period the period asked
    /// @param max the longest allowed
    error PeriodOutOfRange(uint256 period, uint256 max);
    /// @notice A deposit or withdrawal of zero, or above 2**88 - 1 wei.
    /// @param amount the amount given
    error AmountOutOfRange(uint256 amount);
    /// @notice No auction has this id.
    /// @param auctionId the id given
    error UnknownAuction(uint256 auctionId);
    /// @notice The auction is not in a state that allows the call.
    /// @param auctionId the auction
    /// @param state its state
    error WrongState(uint256 auctionId, State state);
    /// @notice Batch arguments differ in length.
    /// @param a the length of the first
    /// @param b the length of the other
    error LengthMismatch(uint256 a, uint256 b);
    /// @notice The account has no X25519 key registered (nobody could deliver to it), or gave a zero key.
    /// @param account the account
    error NoBuyerKey(address account);
    /// @notice A single bid, or a bid of a strict batch, could not be placed.
    /// @param auctionId the auction
    /// @param reason why
    error BidRejected(uint256 auctionId, SkipReason reason);
    /// @notice The free balance does not cover the withdrawal.
    /// @param available the free balance
    /// @param needed the amount asked
    error InsufficientFreeBalance(uint256 available, uint256 needed);
    /// @notice The withdrawal's transfer failed (the receiver refused the ether); nothing changed.
    /// @param account the receiver
    /// @param amount the amount
    error WithdrawFailed(address account, uint256 amount);
    /// @notice The auction cannot be settled before it closes.
    /// @param auctionId the auction
    /// @param closesAt the bidding end, plus the reveal window if sealed
    error SettlementTooEarly(uint256 auctionId, uint256 closesAt);
    /// @notice Unrevealed commitments cannot be forfeited while the reveal window is open.
    /// @param auctionId the auction
    /// @param revealEnd when the reveal window closes
    error RevealWindowOpen(uint256 auctionId, uint256 revealEnd);
    /// @notice Only the seller may deliver the key.
    /// @param auctionId the auction
    /// @param caller who called
    error NotSeller(uint256 auctionId, address caller);
    /// @notice Only the winner may reclaim or rate.
    /// @param auctionId the auction
    /// @param caller who called
    error NotWinner(uint256 auctionId, address caller);
    /// @notice The delivery deadline has passed: the key can no longer be delivered.
    /// @param auctionId the auction
    /// @param deadline the delivery deadline
    error DeliveryWindowClosed(uint256 auctionId, uint256 deadline);
    /// @notice The delivery deadline has not passed: the payment cannot be reclaimed yet.
    /// @param auctionId the auction
    /// @param deadline the delivery deadline
    error DeliveryWindowOpen(uint256 auctionId, uint256 deadline);
    /// @notice A sealed key of zero or more than 4096 bytes.
    /// @param length its length
    error BadSealedKey(uint256 length);
    /// @notice A rating outside 1..5.
    /// @param score the score given
    error BadScore(uint8 score);
    /// @notice Only the device registry calls the consent and ownership hooks.
    /// @param caller who called instead
    error NotRegistry(address caller);
    /// @notice The device cannot change hands while one of its auctions runs (open, or settled
    ///         and before its delivery deadline): settle and deliver it, or check the device out.
    /// @param deviceId the device
    /// @param auctionId the running auction
    /// @param state its state (Open, or AwaitingKey)
    error AuctionRunning(bytes32 deviceId, uint256 auctionId, State state);
}
