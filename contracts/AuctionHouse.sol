// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAuctionHouse, RankResult, SkipReason, State} from "./IAuctionHouse.sol";
import {IAuctionMechanism} from "./IAuctionMechanism.sol";
import {IDeviceRegistry, IDeviceHooks} from "./IDeviceRegistry.sol";

/// @title AuctionHouse
/// @notice Escrow and bookkeeping for auctions of month-long access keys to device data.
///         Bidders deposit once and withdraw what is free (pull payments only: no ether leaves
///         the house except in `withdraw`). Mechanisms (allow-listed, pure rules) decide ordering
///         and price; the house keeps every wei. Invariant: this contract's balance equals the sum
///         of all free and locked balances plus the payments held for key delivery.
/// @dev Times are half-open: bids (and commits) are accepted while `now < biddingEnd`; reveals
///      while `biddingEnd <= now < biddingEnd + revealWindow`; settlement from the close on; key
///      delivery while `now < deliveryDeadline`; reclaim from `deliveryDeadline` on.
///      Sealed bids: an unrevealed commitment forfeits its whole deposit to the protocol fee
///      account, never to the seller (`forfeitUnrevealed`, callable by anyone after the reveal
///      window): a seller's shills then pay for every commitment they leave unrevealed.
///      Consent and ownership (issue 12): the registry calls `onCheckOut`, which cancels every
///      running auction of the device with full refunds, and `onTransfer`, which refuses a
///      transfer while an auction of the device runs (see docs/auction.md).
contract AuctionHouse is IAuctionHouse, IDeviceHooks {
    // States, skip reasons and rank results: the enums of IAuctionHouse.sol.

    uint8 private constant F_SEALED = 1;
    uint8 private constant F_TRACK_SECOND = 2;
    /// Second-priced with a partial bond: remember the best bid that dropped out of the top two,
    /// so a fallback after a default pays what it would have paid had the defaulter never bid.
    uint8 private constant F_TRACK_THIRD = 4;

    uint256 private constant BPS = 10_000;
    uint256 private constant MAX_FEE_BPS = 1_000; // the protocol fee is capped at 10%
    uint256 private constant MAX_AMOUNT = type(uint88).max;
    uint256 private constant MAX_SEALED_KEY = 4096;
    /// Longest bidding period and access period: every deadline the house computes (now + period,
    /// at opening or delivery) then fits its uint40 field.
    uint256 private constant MAX_PERIOD = 3650 days;
    /// Longest delivery window: the winner's payment is locked at most this long after settlement
    /// (an agent offline over a long weekend still delivers; a buyer waits a week, not years).
    uint256 private constant MAX_DELIVERY = 7 days;
    uint40 private constant DEFAULT_ACCESS = 30 days;
    uint24 private constant DEFAULT_DELIVERY = 1 days;
    uint24 private constant DEFAULT_REVEAL = 1 days;

    // One slot each, so a bid reads three slots and writes one.
    struct Config {
        address mechanism;
        uint40 time;
        State state;
        uint8 flags;
        uint16 bondBps;
        uint24 window;
    }

    // Fixed at opening, one slot: what a bidder saw is what applies (issue 12 case 8).
    struct Terms {
        uint88 reserve;
        uint88 increment;
        uint40 accessPeriod;
        uint24 deliveryWindow;
        uint16 feeBps;
    }

    // A standing as the house stores it: `primed` keeps the slot non-zero between bids, so the
    // next bid rewrites it (2.9k gas) instead of filling an empty slot (22.1k). House bookkeeping
    // only: mechanisms see IAuctionMechanism.Standing (bidder and amount).
    struct Slot {
        address bidder;
        uint88 amount;
        uint8 primed;
    }

    struct Account {
        uint128 free;
        uint128 locked;
    }

    struct Rating {
        uint128 sum;
        uint128 count;
    }

    IDeviceRegistry private immutable _registry;
    address private _governance;
    address private _feeAccount;
    uint16 private _feeBps;
    uint256 private _auctionCount;

    mapping(address => bool) private _mechanisms;
    mapping(address => Account) private _accounts;
    mapping(address => bytes32) private _buyerKeys;
    mapping(uint256 => Config) private _config;
    mapping(uint256 => Terms) private _terms;
    mapping(uint256 => Slot) private _first;
    mapping(uint256 => Slot) private _second;
    mapping(uint256 => Slot) private _third; // best released bid (F_TRACK_THIRD)
    mapping(uint256 => address) private _seller;
    mapping(uint256 => bytes32) private _device;
    mapping(uint256 => mapping(address => bytes32)) private _commitHash;
    mapping(uint256 => mapping(address => uint256)) private _commitDeposit;
    mapping(bytes32 => Rating) private _ratings;
    // Every auction of a device in opening order, and the index before which all are over: the
    // hooks visit each auction at most once after it ended.
    mapping(bytes32 => uint256[]) private _deviceAuctions;
    mapping(bytes32 => uint256) private _liveFrom;

    // Events and errors: IAuctionHouse.sol.

    modifier onlyGovernance() {
        if (msg.sender != _governance) revert NotGovernance(msg.sender);
        _;
    }

    /// @param registry the device registry that says who owns a device
    /// @param governance the account that allow-lists mechanisms and sets the fee
    /// @param feeAccount where the protocol fee is credited
    /// @param feeBps the protocol fee in basis points (at most 1000)
    constructor(IDeviceRegistry registry, address governance, address feeAccount, uint16 feeBps) {
        if (address(registry) == address(0) || governance == address(0) || feeAccount == address(0)) revert ZeroAddress();
        if (feeBps > MAX_FEE_BPS) revert FeeTooHigh(feeBps, MAX_FEE_BPS);
        _registry = registry;
        _governance = governance;
        _feeAccount = feeAccount;
        _feeBps = feeBps;
        emit GovernanceTransferred(governance);
        emit FeeChanged(feeBps, feeAccount);
    }

    // =====================================================================
    // governance
    // =====================================================================

    /// @notice Allow `mechanism` for new auctions.
    /// @param mechanism a contract implementing IAuctionMechanism
    function registerMechanism(address mechanism) external onlyGovernance {
        if (mechanism == address(0)) revert ZeroAddress();
        if (_mechanisms[mechanism]) revert MechanismAlreadyRegistered(mechanism);
        _mechanisms[mechanism] = true;
        emit MechanismRegistered(mechanism);
    }

    /// @notice Disallow `mechanism` for new auctions (running ones are unaffected).
    /// @param mechanism a registered mechanism
    function unregisterMechanism(address mechanism) external onlyGovernance {
        if (!_mechanisms[mechanism]) revert MechanismNotAllowed(mechanism);
        _mechanisms[mechanism] = false;
        emit MechanismUnregistered(mechanism);
    }

    /// @notice Set the protocol fee of auctions opened from now on (a running auction keeps the
    ///         fee it opened with); `account` receives the fees of deliveries from now on.
    /// @param bps fee in basis points (at most 1000)
    /// @param account where fees are credited
    function setFee(uint16 bps, address account) external onlyGovernance {
        if (bps > MAX_FEE_BPS) revert FeeTooHigh(bps, MAX_FEE_BPS);
        if (account == address(0)) revert ZeroAddress();
        _feeBps = bps;
        _feeAccount = account;
        emit FeeChanged(bps, account);
    }

    /// @notice Hand governance to `governance`.
    /// @param governance the new governance account
    function transferGovernance(address governance) external onlyGovernance {
        if (governance == address(0)) revert ZeroAddress();
        _governance = governance;
        emit GovernanceTransferred(governance);
    }

    // =====================================================================
    // funds
    // =====================================================================

    /// @notice Add the sent ether to the caller's free balance.
    function deposit() external payable {
        if (msg.value == 0 || msg.value > MAX_AMOUNT) revert AmountOutOfRange(msg.value);
        _accounts[msg.sender].free += uint128(msg.value);
        emit Deposited(msg.sender, msg.value);
    }

    /// @notice Send `amount` of the caller's free balance to the caller.
    /// @param amount wei to withdraw
    function withdraw(uint256 amount) external {
        if (amount == 0) revert AmountOutOfRange(0);
        Account memory a = _accounts[msg.sender];
        if (a.free < amount) revert InsufficientFreeBalance(a.free, amount);
        a.free -= uint128(amount);
        _accounts[msg.sender] = a; // effects before the interaction: a re-entrant call sees the debit
        _send(amount);
    }

    /// @notice Send the caller's whole free balance to the caller.
    function withdrawAll() external {
        Account storage a = _accounts[msg.sender];
        uint256 amount = a.free;
        if (amount == 0) revert InsufficientFreeBalance(0, 1);
        a.free = 0; // effects before the interaction: a re-entrant call sees the debit
        _send(amount);
    }

    function _send(uint256 amount) private {
        bool ok;
        bytes32 topic = Withdrawn.selector;
        // Emits Withdrawn(msg.sender, amount) from scratch space, then a bare call that copies no
        // return data: withdraw is the hottest path for sellers, so it is kept under 30k gas.
        assembly ("memory-safe") {
            mstore(0, amount)
            log2(0, 0x20, topic, caller())
            ok := call(gas(), caller(), amount, 0, 0, 0, 0)
        }
        if (!ok) revert WithdrawFailed(msg.sender, amount);
    }

    /// @notice Register the X25519 public key the device agents seal access keys to.
    /// @param x25519PublicKey the 32-byte public key
    function registerBuyerKey(bytes32 x25519PublicKey) external {
        if (x25519PublicKey == bytes32(0)) revert NoBuyerKey(msg.sender);
        _buyerKeys[msg.sender] = x25519PublicKey;
        emit BuyerKeyRegistered(msg.sender, x25519PublicKey);
    }

    // =====================================================================
    // opening
    // =====================================================================

    /// @notice Open an auction for the caller's active device.
    /// @param p the auction's terms
    /// @return auctionId the new auction's id
    function open(OpenParams calldata p) external returns (uint256 auctionId) {
        auctionId = _open(p);
    }

    /// @notice Open one auction per entry, all in one transaction (ids are consecutive).
    /// @param ps the auctions' terms
    /// @return firstId the id of the first auction opened
    function openBatch(OpenParams[] calldata ps) external returns (uint256 firstId) {
        firstId = _auctionCount + 1;
        for (uint256 i = 0; i < ps.length; ++i) {
            _open(ps[i]);
        }
    }

    function _open(OpenParams calldata p) private returns (uint256 id) {
        address owner = _registry.ownerOf(p.deviceId);
        if (owner != msg.sender) revert NotDeviceOwner(p.deviceId, msg.sender, owner);
        if (!_registry.isActive(p.deviceId)) revert DeviceInactive(p.deviceId);
        if (!_mechanisms[p.mechanism]) revert MechanismNotAllowed(p.mechanism);
        if (p.biddingPeriod == 0) revert BiddingPeriodZero();
        // Bounded here, so settlement (now + deliveryWindow) and delivery (now + accessPeriod)
        // can never overflow their uint40 deadline and lock the bids or the payment.
        if (p.biddingPeriod > MAX_PERIOD) revert PeriodOutOfRange(p.biddingPeriod, MAX_PERIOD);
        if (p.accessPeriod > MAX_PERIOD) revert PeriodOutOfRange(p.accessPeriod, MAX_PERIOD);
        if (p.deliveryWindow > MAX_DELIVERY) revert PeriodOutOfRange(p.deliveryWindow, MAX_DELIVERY);
        uint16 bond = p.bondBps == 0 ? uint16(BPS) : p.bondBps;
        if (bond > BPS) revert BondOutOfRange(p.bondBps);
        (bool sealedBids, bool secondPriced) = IAuctionMechanism(p.mechanism).traits();
        uint8 flags = (sealedBids ? F_SEALED : 0) | ((secondPriced || bond < BPS) ? F_TRACK_SECOND : 0)
            | ((secondPriced && bond < BPS) ? F_TRACK_THIRD : 0);
        uint24 window = (sealedBids && p.window == 0) ? DEFAULT_REVEAL : p.window;
        uint40 end = uint40(block.timestamp) + p.biddingPeriod;

        id = ++_auctionCount;
        _config[id] = Config(p.mechanism, end, State.Open, flags, bond, window);
        _terms[id] = Terms(
            p.reserve,
            p.increment,
            p.accessPeriod == 0 ? DEFAULT_ACCESS : p.accessPeriod,
            p.deliveryWindow == 0 ? DEFAULT_DELIVERY : uint24(p.deliveryWindow),
            _feeBps
        );
        // Primed (non-zero) standing slots make the first bid a 2.9k rewrite instead of a 22.1k write.
        _first[id].primed = 1;
        if (flags & F_TRACK_SECOND != 0) _second[id].primed = 1;
        if (flags & F_TRACK_THIRD != 0) _third[id].primed = 1;
        _seller[id] = msg.sender;
        _device[id] = p.deviceId;
        _deviceAuctions[p.deviceId].push(id);
        emit AuctionOpened(id, p.deviceId, msg.sender, p, end, _feeBps);
    }

    // =====================================================================
    // bidding
    // =====================================================================

    /// @notice Place one open bid (reverts with BidRejected if it cannot be placed).
    /// @param auctionId the auction
    /// @param amount the bid in wei
    function bid(uint256 auctionId, uint256 amount) external {
        _requireBuyerKey();
        Account memory me = _accounts[msg.sender];
        SkipReason r = _bid(auctionId, amount, me);
        if (r != SkipReason.None) revert BidRejected(auctionId, r);
        _accounts[msg.sender] = me;
    }

    /// @notice Place many open bids; a bid that cannot be placed is skipped (BidSkipped) or, in
    ///         strict mode, reverts the whole batch (BidRejected).
    /// @param auctionIds the auctions
    /// @param amounts the bids in wei, one per auction
    /// @param strict revert instead of skipping
    /// @return placed how many bids were placed
    function bidBatch(uint256[] calldata auctionIds, uint256[] calldata amounts, bool strict) external returns (uint256 placed) {
        if (auctionIds.length != amounts.length) revert LengthMismatch(auctionIds.length, amounts.length);
        _requireBuyerKey();
        // The caller's balance is kept in memory for the whole batch and written once.
        Account memory me = _accounts[msg.sender];
        for (uint256 i = 0; i < auctionIds.length; ++i) {
            SkipReason r = _bid(auctionIds[i], amounts[i], me);
            if (r == SkipReason.None) {
                ++placed;
            } else if (strict) {
                revert BidRejected(auctionIds[i], r);
            } else {
                emit BidSkipped(auctionIds[i], msg.sender, amounts[i], r);
            }
        }
        _accounts[msg.sender] = me;
    }

    /// @notice Commit sealed bids: each locks `deposits[i]` (which must cover the bond of the bid
    ///         revealed later). Deposits are public (BidCommitted): choose one that does not tell
    ///         the bid (the clients round it up to a 1-2-5 step). Skips or, in strict mode,
    ///         reverts like bidBatch.
    /// @param auctionIds the sealed auctions
    /// @param commitments commitmentOf(bidder, auctionId, amount, salt) for each
    /// @param deposits wei locked per commitment
    /// @param strict revert instead of skipping
    /// @return placed how many commitments were made
    function commitBatch(uint256[] calldata auctionIds, bytes32[] calldata commitments, uint256[] calldata deposits, bool strict)
        external
        returns (uint256 placed)
    {
        if (auctionIds.length != commitments.length) revert LengthMismatch(auctionIds.length, commitments.length);
        if (auctionIds.length != deposits.length) revert LengthMismatch(auctionIds.length, deposits.length);
        _requireBuyerKey();
        Account memory me = _accounts[msg.sender];
        for (uint256 i = 0; i < auctionIds.length; ++i) {
            SkipReason r = _commit(auctionIds[i], commitments[i], deposits[i], me);
            if (r == SkipReason.None) {
                ++placed;
            } else if (strict) {
                revert BidRejected(auctionIds[i], r);
            } else {
                emit BidSkipped(auctionIds[i], msg.sender, deposits[i], r);
            }
        }
        _accounts[msg.sender] = me;
    }

    /// @notice Reveal sealed bids during the reveal window. Skips or, in strict mode, reverts.
    /// @param auctionIds the sealed auctions
    /// @param amounts the committed bids
    /// @param salts the committed salts
    /// @param strict revert instead of skipping
    /// @return revealed how many commitments were opened
    function revealBatch(uint256[] calldata auctionIds, uint256[] calldata amounts, bytes32[] calldata salts, bool strict)
        external
        returns (uint256 revealed)
    {
        if (auctionIds.length != amounts.length) revert LengthMismatch(auctionIds.length, amounts.length);
        if (auctionIds.length != salts.length) revert LengthMismatch(auctionIds.length, salts.length);
        Account memory me = _accounts[msg.sender];
        for (uint256 i = 0; i < auctionIds.length; ++i) {
            SkipReason r = _reveal(auctionIds[i], amounts[i], salts[i], me);
            if (r == SkipReason.None) {
                ++revealed;
            } else if (strict) {
                revert BidRejected(auctionIds[i], r);
            } else {
                emit BidSkipped(auctionIds[i], msg.sender, amounts[i], r);
            }
        }
        _accounts[msg.sender] = me;
    }

    /// @notice After the reveal window, move unrevealed commitments' deposits to the protocol fee
    ///         account. Not to the seller: its shills could then commit a grid of bids for free,
    ///         wait for the honest reveal and open only the one just under it.
    /// @param auctionId a sealed auction
    /// @param bidders bidders whose commitments to forfeit (those without one are ignored)
    function forfeitUnrevealed(uint256 auctionId, address[] calldata bidders) external {
        Config memory c = _config[auctionId];
        if (c.state == State.None) revert UnknownAuction(auctionId);
        // A cancelled auction's deposits go back to their bidders (releaseCommitments), never to the seller.
        if (c.flags & F_SEALED == 0 || c.state == State.Cancelled) revert WrongState(auctionId, c.state);
        if (c.state == State.Open && block.timestamp < uint256(c.time) + c.window) {
            revert RevealWindowOpen(auctionId, uint256(c.time) + c.window);
        }
        address sink = _feeAccount;
        for (uint256 i = 0; i < bidders.length; ++i) {
            uint256 dep = _commitDeposit[auctionId][bidders[i]];
            if (dep == 0) continue;
            _commitDeposit[auctionId][bidders[i]] = 0;
            _accounts[bidders[i]].locked -= uint128(dep);
            _accounts[sink].free += uint128(dep);
            emit CommitmentForfeited(auctionId, bidders[i], dep);
        }
    }

    /// @notice Return the commitment deposits of a cancelled sealed auction to their bidders
    ///         (anyone may call; bidders without a deposit are ignored).
    /// @param auctionId a cancelled sealed auction
    /// @param bidders bidders whose deposits to return
    function releaseCommitments(uint256 auctionId, address[] calldata bidders) external {
        State state = _config[auctionId].state;
        if (state == State.None) revert UnknownAuction(auctionId);
        if (state != State.Cancelled) revert WrongState(auctionId, state);
        for (uint256 i = 0; i < bidders.length; ++i) {
            uint256 dep = _commitDeposit[auctionId][bidders[i]];
            if (dep == 0) continue;
            _commitDeposit[auctionId][bidders[i]] = 0;
            Account memory a = _accounts[bidders[i]];
            a.locked -= uint128(dep);
            a.free += uint128(dep);
            _accounts[bidders[i]] = a;
            emit CommitmentReleased(auctionId, bidders[i], dep);
        }
    }

    function _requireBuyerKey() private view {
        // Without a key nobody could deliver to this bidder; refuse up front.
        if (_buyerKeys[msg.sender] == bytes32(0)) revert NoBuyerKey(msg.sender);
    }

    function _bid(uint256 id, uint256 amount, Account memory me) private returns (SkipReason) {
        Config memory c = _config[id];
        if (c.state != State.Open) return SkipReason.NotOpen;
        if (c.flags & F_SEALED != 0) return SkipReason.WrongKind;
        if (block.timestamp >= c.time) return SkipReason.Closed;
        if (amount == 0 || amount > MAX_AMOUNT) return SkipReason.BadAmount;
        uint256 bond = _bond(amount, c.bondBps);
        if (me.free < bond) return SkipReason.InsufficientFunds;
        me.free -= uint128(bond);
        me.locked += uint128(bond);
        SkipReason st = _rank(id, c, IAuctionMechanism.Standing(msg.sender, uint88(amount)), me);
        if (st != SkipReason.None) {
            me.free += uint128(bond);
            me.locked -= uint128(bond);
            return st;
        }
        if (c.window != 0 && block.timestamp + c.window > c.time) {
            uint40 end = uint40(block.timestamp + c.window);
            _config[id].time = end;
            emit BiddingExtended(id, end);
        }
        emit BidPlaced(id, msg.sender, amount);
        return SkipReason.None;
    }

    function _commit(uint256 id, bytes32 h, uint256 dep, Account memory me) private returns (SkipReason) {
        Config memory c = _config[id];
        if (c.state != State.Open) return SkipReason.NotOpen;
        if (c.flags & F_SEALED == 0) return SkipReason.WrongKind;
        if (block.timestamp >= c.time) return SkipReason.Closed;
        if (dep == 0 || dep > MAX_AMOUNT) return SkipReason.BadAmount;
        if (h == bytes32(0) || _commitHash[id][msg.sender] != bytes32(0)) return SkipReason.BadCommit;
        if (me.free < dep) return SkipReason.InsufficientFunds;
        me.free -= uint128(dep);
        me.locked += uint128(dep);
        _commitHash[id][msg.sender] = h;
        _commitDeposit[id][msg.sender] = dep;
        emit BidCommitted(id, msg.sender, h, dep);
        return SkipReason.None;
    }

    function _reveal(uint256 id, uint256 amount, bytes32 salt, Account memory me) private returns (SkipReason) {
        Config memory c = _config[id];
        if (c.state != State.Open) return SkipReason.NotOpen;
        if (c.flags & F_SEALED == 0) return SkipReason.WrongKind;
        if (block.timestamp < c.time || block.timestamp >= uint256(c.time) + c.window) return SkipReason.Closed;
        uint256 dep = _commitDeposit[id][msg.sender];
        if (dep == 0 || amount == 0 || amount > MAX_AMOUNT) return SkipReason.BadReveal;
        // The commitment binds the revealer: a copied commitment cannot be opened by anyone else.
        if (commitmentOf(msg.sender, id, amount, salt) != _commitHash[id][msg.sender]) return SkipReason.BadReveal;
        uint256 bond = _bond(amount, c.bondBps);
        if (bond > dep) return SkipReason.BadReveal;
        _commitDeposit[id][msg.sender] = 0;
        me.locked -= uint128(dep - bond);
        me.free += uint128(dep - bond);
        SkipReason st = _rank(id, c, IAuctionMechanism.Standing(msg.sender, uint88(amount)), me);
        if (st != SkipReason.None) {
            me.locked -= uint128(bond);
            me.free += uint128(bond);
        }
        emit BidRevealed(id, msg.sender, amount, st == SkipReason.None);
        return SkipReason.None;
    }

    /// Ask the mechanism to rank `b` (whose bond is already locked), then release the bond of
    /// every standing that no longer holds a lock and store the new standings.
    function _rank(uint256 id, Config memory c, IAuctionMechanism.Standing memory b, Account memory me)
        private
        returns (SkipReason)
    {
        bool track2 = c.flags & F_TRACK_SECOND != 0;
        bool hold2 = c.bondBps < BPS; // with full escrow the winner can always pay: no fallback lock
        IAuctionMechanism.Standing memory f = _standing(_first[id]);
        IAuctionMechanism.Standing memory s = track2 ? _standing(_second[id]) : _none();
        IAuctionMechanism.Standing memory nf;
        IAuctionMechanism.Standing memory ns;
        {
            Terms memory t = _terms[id];
            RankResult st;
            (st, nf, ns) = IAuctionMechanism(c.mechanism).rank(f, s, b, t.reserve, t.increment);
            if (st == RankResult.BelowReserve) return SkipReason.BelowReserve;
            if (st != RankResult.Accepted) return SkipReason.BelowPrice;
        }
        if (!track2) ns = _none();
        // A mechanism may only reorder what stands and the new bid.
        if (!(_isNone(nf) || _same(nf, f) || _same(nf, b) || (hold2 && _same(nf, s)))) revert MechanismMisbehaved(c.mechanism);
        if (hold2 && !(_isNone(ns) || _same(ns, f) || _same(ns, s) || _same(ns, b))) revert MechanismMisbehaved(c.mechanism);
        bool track3 = c.flags & F_TRACK_THIRD != 0;
        if (!_isNone(f) && !_same(f, nf) && !(hold2 && _same(f, ns))) _drop(id, f, c.bondBps, me, track3);
        if (hold2 && !_isNone(s) && !_same(s, nf) && !_same(s, ns)) _drop(id, s, c.bondBps, me, track3);
        if (!_same(b, nf) && !(hold2 && _same(b, ns))) _drop(id, b, c.bondBps, me, track3);
        if (!_same(nf, f)) {
            _first[id] = Slot(nf.bidder, nf.amount, 1);
        }
        if (track2 && !_same(ns, s)) {
            _second[id] = Slot(ns.bidder, ns.amount, 1);
        }
        return SkipReason.None;
    }

    /// Release a standing that left the top two; remember it as the best dropped bid if asked.
    function _drop(uint256 id, IAuctionMechanism.Standing memory x, uint16 bondBps, Account memory me, bool track3)
        private
    {
        _release(x, bondBps, me);
        if (track3 && x.amount > _third[id].amount) {
            _third[id] = Slot(x.bidder, x.amount, 1);
        }
    }

    /// Release into the caller's in-memory balance (written back at the end of the batch) when
    /// the standing is the caller's own, else straight into storage.
    function _release(IAuctionMechanism.Standing memory x, uint16 bondBps, Account memory me) private {
        if (x.bidder == msg.sender) {
            uint128 bond = uint128(_bond(x.amount, bondBps));
            me.locked -= bond;
            me.free += bond;
        } else {
            _releaseStored(x.bidder, x.amount, bondBps);
        }
    }

    function _releaseStored(address bidder, uint256 amount, uint16 bondBps) private {
        uint128 bond = uint128(_bond(amount, bondBps));
        Account memory a = _accounts[bidder];
        a.locked -= bond;
        a.free += bond;
        _accounts[bidder] = a;
    }

    function _same(IAuctionMechanism.Standing memory a, IAuctionMechanism.Standing memory b) private pure returns (bool) {
        return a.bidder == b.bidder && a.amount == b.amount && a.bidder != address(0);
    }

    function _none() private pure returns (IAuctionMechanism.Standing memory) {
        return IAuctionMechanism.Standing(address(0), 0);
    }

    function _standing(Slot storage x) private view returns (IAuctionMechanism.Standing memory) {
        Slot memory m = x; // one read of the packed slot
        return IAuctionMechanism.Standing(m.bidder, m.amount);
    }

    function _isNone(IAuctionMechanism.Standing memory a) private pure returns (bool) {
        return a.bidder == address(0);
    }

    function _bond(uint256 amount, uint16 bondBps) private pure returns (uint256) {
        return bondBps == BPS ? amount : (amount * bondBps + BPS - 1) / BPS;
    }

    // =====================================================================
    // settlement, delivery, reclaim, rating
    // =====================================================================

    /// @notice Settle closed auctions (anyone may call). Already settled ones are skipped, an
    ///         unknown or still running one reverts the batch.
    /// @param auctionIds the auctions to settle
    function settleBatch(uint256[] calldata auctionIds) external {
        for (uint256 i = 0; i < auctionIds.length; ++i) {
            _settle(auctionIds[i]);
        }
    }

    function _settle(uint256 id) private {
        Config memory c = _config[id];
        if (c.state == State.None) revert UnknownAuction(id);
        if (c.state != State.Open) return;
        uint256 closesAt = c.flags & F_SEALED != 0 ? uint256(c.time) + c.window : c.time;
        if (block.timestamp < closesAt) revert SettlementTooEarly(id, closesAt);
        IAuctionMechanism.Standing memory f = _standing(_first[id]);
        IAuctionMechanism.Standing memory s = c.flags & F_TRACK_SECOND != 0 ? _standing(_second[id]) : _none();
        Terms memory t = _terms[id];
        bool hold2 = c.bondBps < BPS && !_isNone(s);
        address winner = address(0);
        uint256 price = 0;
        if (!_isNone(f)) {
            price = _price(c.mechanism, f, s, t.reserve);
            if (_pay(id, f, price, c.bondBps)) {
                winner = f.bidder;
            } else if (hold2) {
                // The winner defaulted: the runner-up gets the access at the price it would have
                // paid had the defaulter never bid (second-priced: the best dropped bid).
                hold2 = false;
                price = _price(c.mechanism, s, c.flags & F_TRACK_THIRD != 0 ? _standing(_third[id]) : _none(), t.reserve);
                if (_pay(id, s, price, c.bondBps)) winner = s.bidder;
            }
        }
        if (hold2) _releaseStored(s.bidder, s.amount, c.bondBps);
        if (winner != address(0)) {
            _first[id] = Slot(winner, uint88(price), 1);
            c.state = State.AwaitingKey;
            c.time = uint40(block.timestamp) + t.deliveryWindow;
            _config[id] = c;
            emit AuctionSettled(id, winner, price, c.time);
        } else {
            _config[id].state = State.Unsold;
            emit AuctionUnsold(id);
        }
    }

    /// The mechanism's price for `f`. A reserve of 0 is priced as 1 wei (bids are at least 1 wei,
    /// so ranking is the same): a sale is never free, and a second-price sale with one revealed
    /// bid, or a fallback re-priced at the reserve, cannot come out at 0 and revert settlement.
    function _price(address mech, IAuctionMechanism.Standing memory f, IAuctionMechanism.Standing memory s, uint256 reserve)
        private
        view
        returns (uint256 p)
    {
        p = IAuctionMechanism(mech).price(f, s, reserve == 0 ? 1 : reserve);
        if (p > f.amount || p == 0) revert MechanismMisbehaved(mech);
    }

    /// Take `price` from `x`'s bond plus free balance; if that is short, forfeit the bond to the seller.
    function _pay(uint256 id, IAuctionMechanism.Standing memory x, uint256 price, uint16 bondBps) private returns (bool) {
        uint256 bond = _bond(x.amount, bondBps);
        Account memory a = _accounts[x.bidder];
        a.locked -= uint128(bond);
        uint256 available = uint256(a.free) + bond;
        if (available >= price) {
            a.free = uint128(available - price);
            _accounts[x.bidder] = a;
            return true;
        }
        _accounts[x.bidder] = a;
        _accounts[_seller[id]].free += uint128(bond);
        emit BondForfeited(id, x.bidder, bond);
        return false;
    }

    /// @notice Post the access key sealed to the winner's X25519 key; credits the payment
    ///         (minus the protocol fee) to the seller and starts the access period.
    /// @param auctionId an auction awaiting its key
    /// @param sealedKey opaque ciphertext only the winner can open (1..4096 bytes)
    function deliverKey(uint256 auctionId, bytes calldata sealedKey) external {
        Config memory c = _config[auctionId];
        if (c.state != State.AwaitingKey) revert WrongState(auctionId, c.state);
        if (msg.sender != _seller[auctionId]) revert NotSeller(auctionId, msg.sender);
        if (block.timestamp >= c.time) revert DeliveryWindowClosed(auctionId, c.time);
        if (sealedKey.length == 0 || sealedKey.length > MAX_SEALED_KEY) revert BadSealedKey(sealedKey.length);
        Slot memory w = _first[auctionId];
        Terms memory t = _terms[auctionId];
        uint256 fee = (uint256(w.amount) * t.feeBps) / BPS; // the fee the auction opened with
        c.state = State.Delivered;
        c.time = uint40(block.timestamp) + t.accessPeriod;
        _config[auctionId] = c;
        _accounts[msg.sender].free += uint128(w.amount - fee);
        if (fee != 0) _accounts[_feeAccount].free += uint128(fee);
        emit KeyDelivered(auctionId, w.bidder, sealedKey, c.time);
    }

    /// @notice After a missed delivery deadline, the winner takes its full payment back.
    /// @param auctionId an auction whose key was not delivered in time
    function reclaim(uint256 auctionId) external {
        Config memory c = _config[auctionId];
        if (c.state != State.AwaitingKey) revert WrongState(auctionId, c.state);
        Slot memory w = _first[auctionId];
        if (msg.sender != w.bidder) revert NotWinner(auctionId, msg.sender);
        if (block.timestamp < c.time) revert DeliveryWindowOpen(auctionId, c.time);
        _config[auctionId].state = State.Reclaimed;
        _accounts[msg.sender].free += w.amount;
        emit PaymentReclaimed(auctionId, msg.sender, w.amount);
    }

    /// @notice The winner rates the device once after delivery.
    /// @param auctionId a delivered auction the caller won
    /// @param score 1 (worst) to 5 (best)
    function rate(uint256 auctionId, uint8 score) external {
        Config memory c = _config[auctionId];
        if (c.state != State.Delivered) revert WrongState(auctionId, c.state);
        if (msg.sender != _first[auctionId].bidder) revert NotWinner(auctionId, msg.sender);
        if (score == 0 || score > 5) revert BadScore(score);
        _config[auctionId].state = State.Rated;
        bytes32 device = _device[auctionId];
        Rating memory r = _ratings[device];
        r.sum += score;
        r.count += 1;
        _ratings[device] = r;
        emit DeviceRated(device, auctionId, msg.sender, score);
    }

    // =====================================================================
    // consent and ownership (called by the registry)
    // =====================================================================

    /// @notice The device was checked out: cancel each of its running auctions. Open ones release
    ///         every bond; a settled one refunds the winner's payment in full. Sealed deposits
    ///         return through `releaseCommitments`.
    /// @param deviceId the device checked out
    function onCheckOut(bytes32 deviceId) external {
        if (msg.sender != address(_registry)) revert NotRegistry(msg.sender);
        uint256[] storage ids = _deviceAuctions[deviceId];
        uint256 n = ids.length;
        for (uint256 i = _liveFrom[deviceId]; i < n; ++i) {
            _cancel(ids[i], deviceId);
        }
        _liveFrom[deviceId] = n;
    }

    /// @notice Refuse the transfer of `deviceId` while one of its auctions runs (the buyer bid
    ///         on this seller's terms; see docs/auction.md). A settled auction whose delivery
    ///         deadline passed does not block: only its winner's reclaim remains.
    /// @param deviceId the device changing hands
    function onTransfer(bytes32 deviceId, address, address) external {
        if (msg.sender != address(_registry)) revert NotRegistry(msg.sender);
        uint256[] storage ids = _deviceAuctions[deviceId];
        uint256 n = ids.length;
        uint256 from = _liveFrom[deviceId];
        uint256 i = from;
        while (i < n && _isOver(_config[ids[i]].state)) ++i;
        if (i != from) _liveFrom[deviceId] = i;
        for (; i < n; ++i) {
            Config memory c = _config[ids[i]];
            if (c.state == State.Open || (c.state == State.AwaitingKey && block.timestamp < c.time)) {
                revert AuctionRunning(deviceId, ids[i], c.state);
            }
        }
    }

    function _isOver(State state) private pure returns (bool) {
        return state != State.Open && state != State.AwaitingKey;
    }

    function _cancel(uint256 id, bytes32 deviceId) private {
        Config memory c = _config[id];
        if (c.state == State.Open) {
            Slot memory f = _first[id];
            if (f.bidder != address(0)) _releaseStored(f.bidder, f.amount, c.bondBps);
            // With partial bonds the runner-up holds its bond too (see _rank).
            if (c.bondBps < BPS) {
                Slot memory s = _second[id];
                if (s.bidder != address(0)) _releaseStored(s.bidder, s.amount, c.bondBps);
            }
        } else if (c.state == State.AwaitingKey) {
            Slot memory w = _first[id];
            _accounts[w.bidder].free += w.amount;
            emit PaymentRefunded(id, w.bidder, w.amount);
        } else {
            return;
        }
        _config[id].state = State.Cancelled;
        emit AuctionCancelled(id, deviceId);
    }

    // =====================================================================
    // getters
    // =====================================================================

    /// @notice The commitment a sealed bid must match: binds bidder, house, auction, chain, amount and salt.
    /// @param bidder the committing account
    /// @param auctionId the auction
    /// @param amount the bid in wei
    /// @param salt 32 random bytes kept secret until the reveal
    function commitmentOf(address bidder, uint256 auctionId, uint256 amount, bytes32 salt) public view returns (bytes32) {
        return keccak256(abi.encode(bidder, address(this), auctionId, block.chainid, amount, salt));
    }

    /// @notice Free and locked balance of `account`.
    function balanceOf(address account) external view returns (uint256 free, uint256 locked) {
        Account memory a = _accounts[account];
        return (a.free, a.locked);
    }

    /// @notice The X25519 public key `account` registered (zero if none).
    function buyerKeyOf(address account) external view returns (bytes32) {
        return _buyerKeys[account];
    }

    /// @notice `bidder`'s commitment in `auctionId` and its still-locked deposit (0 once revealed or forfeited).
    function commitOf(uint256 auctionId, address bidder) external view returns (bytes32 commitment, uint256 lockedDeposit) {
        return (_commitHash[auctionId][bidder], _commitDeposit[auctionId][bidder]);
    }

    /// @notice Everything about `auctionId`.
    function auction(uint256 auctionId) external view returns (AuctionView memory v) {
        Config memory c = _config[auctionId];
        if (c.state == State.None) revert UnknownAuction(auctionId);
        Terms memory t = _terms[auctionId];
        v.deviceId = _device[auctionId];
        v.seller = _seller[auctionId];
        v.mechanism = c.mechanism;
        v.state = c.state;
        v.sealedBids = c.flags & F_SEALED != 0;
        v.bondBps = c.bondBps;
        v.time = c.time;
        v.window = c.window;
        v.reserve = t.reserve;
        v.increment = t.increment;
        v.accessPeriod = t.accessPeriod;
        v.deliveryWindow = t.deliveryWindow;
        v.first = _first[auctionId].bidder;
        v.firstAmount = _first[auctionId].amount;
        v.second = _second[auctionId].bidder;
        v.secondAmount = _second[auctionId].amount;
        v.feeBps = t.feeBps;
    }

    /// @notice When the winner's access ends (0 before delivery).
    function accessUntil(uint256 auctionId) external view returns (uint256) {
        Config memory c = _config[auctionId];
        return (c.state == State.Delivered || c.state == State.Rated) ? c.time : 0;
    }

    /// @notice Sum and count of the ratings `deviceId` received.
    function ratingOf(bytes32 deviceId) external view returns (uint256 sum, uint256 count) {
        Rating memory r = _ratings[deviceId];
        return (r.sum, r.count);
    }

    /// @notice Whether `mechanism` may be used for new auctions.
    function isMechanism(address mechanism) external view returns (bool) {
        return _mechanisms[mechanism];
    }

    /// @notice The number of auctions opened so far (ids run 1..auctionCount).
    function auctionCount() external view returns (uint256) {
        return _auctionCount;
    }

    /// @notice The governance account.
    function governance() external view returns (address) {
        return _governance;
    }

    /// @notice The protocol fee (basis points) and where it goes.
    function fee() external view returns (uint256 bps, address account) {
        return (_feeBps, _feeAccount);
    }

    /// @notice The device registry in use.
    function registry() external view returns (address) {
        return address(_registry);
    }
}
