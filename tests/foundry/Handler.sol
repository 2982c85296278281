// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Vm, VM_ADDRESS} from "./Vm.sol";
import {AuctionHouse} from "../../contracts/AuctionHouse.sol";
import {IAuctionHouse, State} from "../../contracts/IAuctionHouse.sol";
import {DeviceRegistry} from "../../contracts/DeviceRegistry.sol";
import {IDeviceRegistry, IDeviceHooks} from "../../contracts/IDeviceRegistry.sol";
import {EnglishAuction} from "../../contracts/mechanisms/EnglishAuction.sol";
import {SealedSecondPrice} from "../../contracts/mechanisms/SealedSecondPrice.sol";

/// @notice The one target of the invariant run: every external state-changing function of the
///         AuctionHouse and the DeviceRegistry, called with bounded random inputs by several
///         actors (five users, governance) between random time warps. Inputs are bounded, not
///         filtered: wrong callers, wrong states, too early and too late are all drawn.
///         Each handler predicts who may succeed; a call that succeeds for a caller it must
///         not (or, where the rule is exact, fails for one it must not) is recorded in
///         `violations`, which an invariant requires to stay empty. The ghost model of the
///         registry (owner, reserve, mechanism, active, attested, signing key) and of both
///         governance states is changed only by calls that succeeded for the right caller.
contract Handler {
    Vm private constant vm = Vm(VM_ADDRESS);

    uint256 public constant N_ACTORS = 5;
    uint256 public constant N_DEVICES = 6;
    uint256 public constant N_OEMS = 2;
    /// Auctions per run: enough for every life cycle, few enough to check all after each call.
    uint256 public constant MAX_AUCTIONS = 24;
    uint256 private constant BPS = 10_000;

    // auction states: the house's State enum
    State public constant OPEN = State.Open;
    State public constant AWAITING_KEY = State.AwaitingKey;
    State public constant DELIVERED = State.Delivered;
    State public constant CANCELLED = State.Cancelled;

    struct Model {
        address owner;
        uint80 reservePrice;
        uint8 mechanism;
        bool active;
        bool attested;
        bytes32 signingKey;
    }

    struct Commit {
        uint256 amount;
        bytes32 salt;
    }

    DeviceRegistry public immutable registry;
    AuctionHouse public immutable house;
    address[3] public mechanisms; // english, sealed second price, a second english (starts unregistered)

    address[] public actors; // users: bidders, sellers, fee accounts
    address public immutable gov0; // first governance of both contracts
    address public immutable feeSink;

    // ---- ghost state ----
    uint256 public ghostIn; // ether deposited into the house
    uint256 public ghostOut; // ether withdrawn from the house
    string[] public violations;
    mapping(bytes32 => Model) private _model;
    mapping(address => bool) public oemAllowed;
    mapping(address => bool) public mechAllowed;
    address public regGov;
    address public houseGov;
    uint256 public feeBps;
    address public feeAccount;
    mapping(uint256 => mapping(address => Commit)) private _commits;
    mapping(bytes32 => uint256) public successes; // handler name => successful calls
    mapping(bytes32 => uint256) public attempts; // handler name => calls

    bytes32[N_DEVICES] private _deviceIds;
    address[N_OEMS] private _oems;

    constructor() {
        for (uint256 d = 0; d < N_DEVICES; ++d) {
            _deviceIds[d] = bytes32(bytes20(vm.addr(deviceKey(d))));
        }
        for (uint256 o = 0; o < N_OEMS; ++o) {
            _oems[o] = vm.addr(oemKey(o));
        }
        gov0 = address(0x60f);
        feeSink = address(0xFEE);
        for (uint256 i = 0; i < N_ACTORS; ++i) {
            actors.push(address(uint160(0xA0000 + i)));
        }
        registry = new DeviceRegistry();
        registry.transferGovernance(gov0);
        regGov = gov0;
        house = new AuctionHouse(IDeviceRegistry(address(registry)), gov0, feeSink, 250);
        // As deployed: the registry tells the house of check-outs and transfers.
        vm.prank(gov0);
        registry.setHouse(IDeviceHooks(address(house)));
        houseGov = gov0;
        feeBps = 250;
        feeAccount = feeSink;
        mechanisms[0] = address(new EnglishAuction());
        mechanisms[1] = address(new SealedSecondPrice());
        mechanisms[2] = address(new EnglishAuction());
        for (uint256 m = 0; m < 2; ++m) {
            vm.prank(gov0);
            house.registerMechanism(mechanisms[m]);
            mechAllowed[mechanisms[m]] = true;
        }
        vm.prank(gov0);
        registry.setOem(oemAddress(0), true);
        oemAllowed[oemAddress(0)] = true;
        // Four of five actors can bid from the start; the fifth must register a key first.
        for (uint256 i = 0; i < N_ACTORS - 1; ++i) {
            vm.prank(actors[i]);
            house.registerBuyerKey(bytes32(i + 1));
        }
        // Every device starts checked in by an actor (devices 4 and 5 stay free to check in).
        for (uint256 d = 0; d < N_DEVICES - 2; ++d) {
            _checkInHonest(actors[d % N_ACTORS], d, d);
        }
        // Each actor starts with some free balance.
        for (uint256 i = 0; i < N_ACTORS; ++i) {
            _deposit(actors[i], 20 ether);
        }
    }

    // =====================================================================
    // views for the invariants
    // =====================================================================

    function actorCount() external pure returns (uint256) {
        return N_ACTORS;
    }

    /// Every address that can ever hold a balance in the house (actors, fee sink, first governance).
    function accounts() public view returns (address[] memory a) {
        a = new address[](N_ACTORS + 2);
        for (uint256 i = 0; i < N_ACTORS; ++i) {
            a[i] = actors[i];
        }
        a[N_ACTORS] = feeSink;
        a[N_ACTORS + 1] = gov0;
    }

    /// Every handler name with its successful calls this run, as "name=count ..." (for the stats
    /// file the pytest wrapper reads to prove the campaign reached every life-cycle step).
    function stats() external view returns (string memory line) {
        bytes32[32] memory names = [
            bytes32("deposit"), "withdraw", "withdrawAll", "registerBuyerKey", "open", "openBatch", "bid", "bidBatch",
            "commit", "reveal", "forfeitUnrevealed", "settle", "deliverKey", "reclaim", "rate", "registerMechanism",
            "unregisterMechanism", "setFee", "houseTransferGovernance", "checkIn", "checkInBatch", "update",
            "checkOut", "transferDevice", "attest", "setOem", "setHouse", "registryTransferGovernance", "warp",
            "releaseCommitments", "onCheckOut", "onTransfer"
        ];
        for (uint256 i = 0; i < names.length; ++i) {
            line = string.concat(line, i == 0 ? "" : " ", _name(names[i]), "=", vm.toString(successes[names[i]]));
        }
    }

    function _name(bytes32 b) private pure returns (string memory) {
        uint256 n = 0;
        while (n < 32 && b[n] != 0) ++n;
        bytes memory out = new bytes(n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = b[i];
        }
        return string(out);
    }

    function violationCount() external view returns (uint256) {
        return violations.length;
    }

    function model(uint256 d) external view returns (bytes32 id, Model memory m) {
        id = deviceId(d);
        m = _model[id];
    }

    function commitOf(uint256 auctionId, address bidder) external view returns (Commit memory) {
        return _commits[auctionId][bidder];
    }

    /// All device models at once (ids in `deviceId` order), for a cheap check after every call.
    function models() external view returns (bytes32[N_DEVICES] memory ids, Model[N_DEVICES] memory ms) {
        for (uint256 d = 0; d < N_DEVICES; ++d) {
            ids[d] = deviceId(d);
            ms[d] = _model[ids[d]];
        }
    }

    /// Bit k set: actor k made a commitment in `auctionId` (only they can hold a sealed deposit).
    mapping(uint256 => uint256) public committers;

    function deviceKey(uint256 d) public pure returns (uint256) {
        return 0xDE0000 + (d % N_DEVICES) + 1;
    }

    function oemKey(uint256 o) public pure returns (uint256) {
        return 0x0E0000 + (o % N_OEMS) + 1;
    }

    /// The device id of device key `d` (computed once: vm.addr is a curve multiplication).
    function deviceId(uint256 d) public view returns (bytes32) {
        return _deviceIds[d % N_DEVICES];
    }

    function oemAddress(uint256 o) public view returns (address) {
        return _oems[o % N_OEMS];
    }

    // =====================================================================
    // house: funds
    // =====================================================================

    function deposit(uint256 a, uint256 amount) external {
        address actor = _actor(a);
        amount = _bound(amount, 1, 50 ether);
        _deposit(actor, amount);
    }

    function withdraw(uint256 a, uint256 amount) external {
        _count("withdraw");
        address actor = _actor(a);
        (uint256 free,) = house.balanceOf(actor);
        amount = _bound(amount, 0, free + 1);
        uint256 before = actor.balance;
        vm.prank(actor);
        try house.withdraw(amount) {
            _ok("withdraw");
            ghostOut += amount;
            if (actor.balance != before + amount) _violation("withdraw: wrong amount sent");
            _exact(amount != 0 && amount <= free, true, "withdraw succeeded beyond the free balance");
        } catch {
            _exact(amount != 0 && amount <= free, false, "withdraw of a free amount failed");
        }
    }

    function withdrawAll(uint256 a) external {
        _count("withdrawAll");
        address actor = _actor(a);
        (uint256 free,) = house.balanceOf(actor);
        uint256 before = actor.balance;
        vm.prank(actor);
        try house.withdrawAll() {
            _ok("withdrawAll");
            ghostOut += free;
            if (actor.balance != before + free) _violation("withdrawAll: wrong amount sent");
            (uint256 after_,) = house.balanceOf(actor);
            if (after_ != 0 || free == 0) _violation("withdrawAll: balance left or nothing to withdraw");
        } catch {
            if (free != 0) _violation("withdrawAll of a positive free balance failed");
        }
    }

    function registerBuyerKey(uint256 a, uint256 key) external {
        _count("registerBuyerKey");
        address actor = _actor(a);
        bytes32 k = bytes32(_bound(key, 0, 3));
        vm.prank(actor);
        try house.registerBuyerKey(k) {
            _ok("registerBuyerKey");
            _exact(k != 0, true, "registerBuyerKey accepted a zero key");
        } catch {
            _exact(k != 0, false, "registerBuyerKey refused a key");
        }
    }

    // =====================================================================
    // house: opening and bidding
    // =====================================================================

    function open(uint256 a, uint256 d, uint256 seed) external {
        if (house.auctionCount() >= MAX_AUCTIONS) return;
        _count("open");
        IAuctionHouse.OpenParams memory p = _params(d, seed);
        address actor = _ownerMostly(a, p.deviceId);
        bool allowed = _mayOpen(actor, p);
        vm.prank(actor);
        try house.open(p) {
            _ok("open");
            if (!allowed) _violation("open succeeded for a non-owner, inactive device or bad terms");
        } catch {
            if (allowed) _violation("open by the owner of an active device with good terms failed");
        }
    }

    function openBatch(uint256 a, uint256 d, uint256 seed) external {
        if (house.auctionCount() + 2 > MAX_AUCTIONS) return;
        _count("openBatch");
        IAuctionHouse.OpenParams[] memory ps = new IAuctionHouse.OpenParams[](2);
        ps[0] = _params(d, seed);
        ps[1] = _params(d, uint256(keccak256(abi.encode(seed)))); // two auctions of one device
        address actor = _ownerMostly(a, ps[0].deviceId);
        bool allowed = _mayOpen(actor, ps[0]) && _mayOpen(actor, ps[1]);
        vm.prank(actor);
        try house.openBatch(ps) {
            _ok("openBatch");
            if (!allowed) _violation("openBatch succeeded with a refused entry");
        } catch {
            if (allowed) _violation("openBatch of good entries failed");
        }
    }

    function bid(uint256 a, uint256 i, uint256 amount) external {
        uint256 id = _openAuction(i, false);
        if (id == 0) return;
        _count("bid");
        address actor = _actor(a);
        amount = _amount(amount);
        vm.prank(actor);
        try house.bid(id, amount) {
            _ok("bid");
        } catch {}
    }

    function bidBatch(uint256 a, uint256 i, uint256 amount, bool strict) external {
        uint256 id = _openAuction(i, false);
        if (id == 0) return;
        _count("bidBatch");
        address actor = _actor(a);
        uint256[] memory ids = new uint256[](2);
        uint256[] memory amounts = new uint256[](2);
        ids[0] = id;
        ids[1] = _auction((i % MAX_AUCTIONS) + 1);
        amounts[0] = _amount(amount);
        amounts[1] = _amount(uint256(keccak256(abi.encode(amount))));
        vm.prank(actor);
        try house.bidBatch(ids, amounts, strict) returns (uint256 placed) {
            if (placed != 0) _ok("bidBatch");
        } catch {}
    }

    function commit(uint256 a, uint256 i, uint256 amount, uint256 depositSeed, bool strict) external {
        uint256 id = _openAuction(i, true);
        if (id == 0) return;
        _count("commit");
        address actor = _actor(a);
        amount = _amount(amount);
        bytes32 salt = keccak256(abi.encode(actor, id, amount, depositSeed));
        uint256[] memory ids = new uint256[](1);
        bytes32[] memory hs = new bytes32[](1);
        uint256[] memory deps = new uint256[](1);
        ids[0] = id;
        hs[0] = house.commitmentOf(actor, id, amount, salt);
        // Deposits from a fifth of the bid (may not cover a full bond) to twice the bid.
        deps[0] = (amount * _bound(depositSeed, 2, 20)) / 10 + (depositSeed % 1000);
        vm.prank(actor);
        try house.commitBatch(ids, hs, deps, strict) returns (uint256 placed) {
            if (placed == 1) {
                _ok("commit");
                _commits[id][actor] = Commit(amount, salt);
                committers[id] |= 1 << (a % N_ACTORS);
            }
        } catch {}
    }

    function reveal(uint256 a, uint256 i, uint256 tamper, bool strict) external {
        uint256 id = _auction(i);
        if (id == 0) return;
        _count("reveal");
        uint256 mask = committers[id];
        if (mask != 0 && a % 4 != 0) {
            for (uint256 k = a % N_ACTORS; ; k = (k + 1) % N_ACTORS) {
                if (mask & (1 << k) != 0) {
                    a = k;
                    break;
                }
            }
        }
        address actor = _actor(a);
        Commit memory c = _commits[id][actor];
        if (c.amount == 0) {
            c.amount = _amount(tamper);
        } else if (tamper % 5 == 0) {
            c.amount += 1; // a tampered reveal never opens the commitment
        }
        uint256[] memory ids = new uint256[](1);
        uint256[] memory amounts = new uint256[](1);
        bytes32[] memory salts = new bytes32[](1);
        ids[0] = id;
        amounts[0] = c.amount;
        salts[0] = c.salt;
        (, uint256 lockedBefore) = house.commitOf(id, actor);
        vm.prank(actor);
        try house.revealBatch(ids, amounts, salts, strict) returns (uint256 revealed) {
            if (revealed == 1) {
                _ok("reveal");
                if (lockedBefore == 0) _violation("reveal opened a commitment that held no deposit");
                if (tamper % 5 == 0 && _commits[id][actor].amount != 0) _violation("tampered reveal accepted");
            }
        } catch {}
    }

    function forfeitUnrevealed(uint256 a, uint256 i) external {
        uint256 id = _auction(i);
        if (id == 0) return;
        _count("forfeitUnrevealed");
        address[] memory bidders = new address[](N_ACTORS);
        for (uint256 k = 0; k < N_ACTORS; ++k) {
            bidders[k] = actors[k];
        }
        vm.prank(_actor(a));
        try house.forfeitUnrevealed(id, bidders) {
            _ok("forfeitUnrevealed");
        } catch {}
    }

    /// Anyone may return a cancelled sealed auction's deposits; every other state refuses.
    function releaseCommitments(uint256 a, uint256 i) external {
        uint256 id = _auction(i);
        if (id == 0) return;
        _count("releaseCommitments");
        address[] memory bidders = new address[](N_ACTORS);
        uint256[] memory before = new uint256[](N_ACTORS);
        for (uint256 k = 0; k < N_ACTORS; ++k) {
            bidders[k] = actors[k];
            (, before[k]) = house.commitOf(id, actors[k]);
        }
        State state = house.auction(id).state;
        vm.prank(_actor(a));
        try house.releaseCommitments(id, bidders) {
            _ok("releaseCommitments");
            if (state != CANCELLED) _violation("releaseCommitments of an auction that was not cancelled");
            for (uint256 k = 0; k < N_ACTORS; ++k) {
                (, uint256 left) = house.commitOf(id, actors[k]);
                if (left != 0) _violation("releaseCommitments left a deposit locked");
            }
        } catch {
            if (state == CANCELLED) _violation("releaseCommitments of a cancelled auction failed");
        }
    }

    /// The hooks belong to the registry: any other caller must be refused.
    function onCheckOut(uint256 a, uint256 d) external {
        _count("onCheckOut");
        vm.prank(_caller(a));
        try house.onCheckOut(deviceId(d)) {
            _violation("onCheckOut by someone other than the registry");
        } catch {
            _ok("onCheckOut"); // refused, as it must be
        }
    }

    function onTransfer(uint256 a, uint256 d, uint256 t) external {
        _count("onTransfer");
        vm.prank(_caller(a));
        try house.onTransfer(deviceId(d), _actor(a), _actor(t)) {
            _violation("onTransfer by someone other than the registry");
        } catch {
            _ok("onTransfer"); // refused, as it must be
        }
    }

    // =====================================================================
    // house: settlement, delivery, reclaim, rating
    // =====================================================================

    function settle(uint256 a, uint256 i, uint256 n) external {
        uint256 id = _auction(i);
        if (id == 0) return;
        _count("settle");
        uint256 count = house.auctionCount();
        n = _bound(n, 1, 3);
        uint256[] memory ids = new uint256[](n);
        for (uint256 k = 0; k < n; ++k) {
            ids[k] = ((id - 1 + k) % count) + 1;
        }
        vm.prank(_actor(a));
        try house.settleBatch(ids) {
            _ok("settle");
        } catch {}
    }

    function deliverKey(uint256 a, uint256 i, uint256 len) external {
        uint256 id = _auction(i);
        if (id == 0) return;
        _count("deliverKey");
        IAuctionHouse.AuctionView memory v = house.auction(id);
        // Half the calls come from the seller, the rest from anyone.
        address caller = a % 2 == 0 ? v.seller : _actor(a >> 1);
        bytes memory key = new bytes(_bound(len, 0, 80));
        for (uint256 k = 0; k < key.length; ++k) {
            key[k] = bytes1(uint8(k + 1));
        }
        vm.prank(caller);
        try house.deliverKey(id, key) {
            _ok("deliverKey");
            if (caller != v.seller) _violation("deliverKey by someone other than the seller");
            if (v.state != AWAITING_KEY || block.timestamp >= v.time) _violation("deliverKey outside its window");
        } catch {}
    }

    function reclaim(uint256 a, uint256 i) external {
        uint256 id = _auction(i);
        if (id == 0) return;
        _count("reclaim");
        IAuctionHouse.AuctionView memory v = house.auction(id);
        address caller = a % 2 == 0 ? v.first : _actor(a >> 1);
        if (caller == address(0)) caller = _actor(a >> 1);
        vm.prank(caller);
        try house.reclaim(id) {
            _ok("reclaim");
            if (caller != v.first) _violation("reclaim by someone other than the winner");
            if (v.state != AWAITING_KEY || block.timestamp < v.time) _violation("reclaim before the delivery deadline");
        } catch {
            if (caller == v.first && v.state == AWAITING_KEY && block.timestamp >= v.time) {
                _violation("winner could not reclaim after the delivery deadline");
            }
        }
    }

    function rate(uint256 a, uint256 i, uint256 score) external {
        uint256 id = _auction(i);
        if (id == 0) return;
        _count("rate");
        IAuctionHouse.AuctionView memory v = house.auction(id);
        address caller = a % 2 == 0 ? v.first : _actor(a >> 1);
        if (caller == address(0)) caller = _actor(a >> 1);
        uint8 s = uint8(_bound(score, 0, 6));
        vm.prank(caller);
        try house.rate(id, s) {
            _ok("rate");
            if (caller != v.first) _violation("rate by someone other than the winner");
            if (v.state != DELIVERED || s == 0 || s > 5) _violation("rate of an undelivered auction or a bad score");
        } catch {}
    }

    // =====================================================================
    // house: governance
    // =====================================================================

    function registerMechanism(uint256 c, uint256 m) external {
        _count("registerMechanism");
        address caller = _caller(c);
        address mech = _mechanismToToggle(m);
        bool allowed = caller == houseGov && !mechAllowed[mech];
        vm.prank(caller);
        try house.registerMechanism(mech) {
            _ok("registerMechanism");
            mechAllowed[mech] = true;
            _exact(allowed, true, "registerMechanism by non-governance");
        } catch {
            _exact(allowed, false, "registerMechanism by governance failed");
        }
    }

    function unregisterMechanism(uint256 c, uint256 m) external {
        _count("unregisterMechanism");
        address caller = _caller(c);
        address mech = _mechanismToToggle(m);
        bool allowed = caller == houseGov && mechAllowed[mech];
        vm.prank(caller);
        try house.unregisterMechanism(mech) {
            _ok("unregisterMechanism");
            mechAllowed[mech] = false;
            _exact(allowed, true, "unregisterMechanism by non-governance");
        } catch {
            _exact(allowed, false, "unregisterMechanism by governance failed");
        }
    }

    function setFee(uint256 c, uint256 bps, uint256 acct) external {
        _count("setFee");
        address caller = _caller(c);
        bps = _bound(bps, 0, 1200);
        address account = accounts()[acct % (N_ACTORS + 1)];
        bool allowed = caller == houseGov && bps <= 1000;
        vm.prank(caller);
        try house.setFee(uint16(bps), account) {
            _ok("setFee");
            feeBps = bps;
            feeAccount = account;
            _exact(allowed, true, "setFee by non-governance or above the cap");
        } catch {
            _exact(allowed, false, "setFee by governance failed");
        }
    }

    function houseTransferGovernance(uint256 c, uint256 to) external {
        _count("houseTransferGovernance");
        address caller = _caller(c);
        address target = _caller(to);
        bool allowed = caller == houseGov;
        vm.prank(caller);
        try house.transferGovernance(target) {
            _ok("houseTransferGovernance");
            houseGov = target;
            _exact(allowed, true, "house transferGovernance by non-governance");
        } catch {
            _exact(allowed, false, "house transferGovernance by governance failed");
        }
    }

    // =====================================================================
    // registry: owners
    // =====================================================================

    function checkIn(uint256 s, uint256 d, uint256 o, uint256 seed) external {
        _count("checkIn");
        address sender = _ownerMostly(s, deviceId(d));
        // Mostly honest; sometimes a check-in signed for someone else (a copied pending one),
        // signed by the wrong device key, or with a TD that does not match its hash.
        address signedOwner = seed % 4 == 0 ? _actor(o) : sender;
        bool rightKey = seed % 7 != 0;
        bool goodTd = seed % 11 != 0;
        DeviceRegistry.CheckIn memory c = _checkInData(d, signedOwner, seed, rightKey, goodTd);
        Model memory m = _model[c.deviceId];
        bool allowed = signedOwner == sender && rightKey && goodTd
            && (m.owner == address(0) || (m.owner == sender && !m.active));
        vm.prank(sender);
        try registry.checkIn(c) {
            _ok("checkIn");
            _applyCheckIn(sender, c);
            _exact(allowed, true, "checkIn without proof of control, over another owner or an active record");
        } catch {
            _exact(allowed, false, "an honest checkIn failed");
        }
    }

    function checkInBatch(uint256 s, uint256 d, uint256 seed) external {
        _count("checkInBatch");
        address sender = _actor(s);
        DeviceRegistry.CheckIn[] memory items = new DeviceRegistry.CheckIn[](2);
        items[0] = _checkInData(d, sender, seed, true, true);
        items[1] = _checkInData((d % N_DEVICES) + 1 + (seed % (N_DEVICES - 1)), sender, seed >> 8, seed % 5 != 0, true);
        bool allowed = seed % 5 != 0;
        for (uint256 k = 0; k < 2; ++k) {
            Model memory m = _model[items[k].deviceId];
            allowed = allowed && (m.owner == address(0) || (m.owner == sender && !m.active));
        }
        vm.prank(sender);
        try registry.checkInBatch(items) {
            _ok("checkInBatch");
            _applyCheckIn(sender, items[0]);
            _applyCheckIn(sender, items[1]);
            _exact(allowed, true, "checkInBatch with a refused entry");
        } catch {
            _exact(allowed, false, "an honest checkInBatch failed");
        }
    }

    function update(uint256 s, uint256 d, uint80 reserve, uint8 mech) external {
        _count("update");
        bytes32 id = deviceId(d);
        address sender = _ownerMostly(s, id);
        Model memory m = _model[id];
        bool allowed = m.owner == sender && m.active;
        bytes memory td = abi.encodePacked("td-update", reserve);
        vm.prank(sender);
        try registry.update(id, keccak256(td), td, "tangle", reserve, mech) {
            _ok("update");
            _model[id].reservePrice = reserve;
            _model[id].mechanism = mech;
            _exact(allowed, true, "update by a non-owner or of an inactive record");
        } catch {
            _exact(allowed, false, "update by the owner failed");
        }
    }

    function checkOut(uint256 s, uint256 d) external {
        _count("checkOut");
        bytes32 id = deviceId(d);
        address sender = _actor(s); // any actor: a check-out by the owner ends the device's sales
        Model memory m = _model[id];
        bool allowed = m.owner == sender && m.active;
        vm.prank(sender);
        try registry.checkOut(id) {
            _ok("checkOut");
            _model[id].active = false;
            _exact(allowed, true, "checkOut by a non-owner or of an inactive record");
            if (_runningAuction(id) != 0) _violation("an auction of a checked-out device still runs");
        } catch {
            _exact(allowed, false, "checkOut by the owner failed");
        }
    }

    function transferDevice(uint256 s, uint256 d, uint256 t) external {
        _count("transferDevice");
        bytes32 id = deviceId(d);
        address sender = _ownerMostly(s, id);
        address to = t % 8 == 7 ? address(0) : _actor(t);
        Model memory m = _model[id];
        bool allowed = m.owner == sender && to != address(0) && _runningAuction(id) == 0;
        vm.prank(sender);
        try registry.transferDevice(id, to) {
            _ok("transferDevice");
            _model[id].owner = to;
            _model[id].attested = false;
            _exact(allowed, true, "transferDevice by a non-owner, to zero or while an auction runs");
        } catch {
            _exact(allowed, false, "transferDevice by the owner failed");
        }
    }

    function attest(uint256 s, uint256 d, uint256 o, uint256 seed) external {
        _count("attest");
        bytes32 id = deviceId(d);
        Model memory m = _model[id];
        uint256 oem = oemKey(o);
        // Sometimes the OEM signed another owner's record (the squatter case): useless here.
        address signedOwner = seed % 3 == 0 ? _actor(seed >> 2) : m.owner;
        bytes32 digest = registry.attestationDigest(id, signedOwner, m.signingKey);
        (uint8 v, bytes32 r, bytes32 sg) = vm.sign(oem, digest);
        bool allowed = m.owner != address(0) && oemAllowed[oemAddress(o)] && signedOwner == m.owner;
        vm.prank(_actor(s));
        try registry.attest(id, abi.encodePacked(r, sg, v)) {
            _ok("attest");
            _model[id].attested = true;
            _exact(allowed, true, "attest without an allowed OEM's signature over this owner");
        } catch {
            _exact(allowed, false, "a valid attestation failed");
        }
    }

    // =====================================================================
    // registry: governance
    // =====================================================================

    function setOem(uint256 c, uint256 o, bool allowed_) external {
        _count("setOem");
        address caller = _caller(c);
        address oem = oemAddress(o);
        bool allowed = caller == regGov;
        vm.prank(caller);
        try registry.setOem(oem, allowed_) {
            _ok("setOem");
            oemAllowed[oem] = allowed_;
            _exact(allowed, true, "setOem by non-governance");
        } catch {
            _exact(allowed, false, "setOem by governance failed");
        }
    }

    /// The house is named once, at deployment: governance is refused too (HouseAlreadySet).
    function setHouse(uint256 c) external {
        address caller = _caller(c);
        _count("setHouse");
        vm.prank(caller);
        try registry.setHouse(IDeviceHooks(address(house))) {
            _violation("setHouse after the house was set");
        } catch {
            _ok("setHouse"); // refused, as it must be
        }
    }

    function registryTransferGovernance(uint256 c, uint256 to) external {
        _count("registryTransferGovernance");
        address caller = _caller(c);
        address target = _caller(to);
        bool allowed = caller == regGov;
        vm.prank(caller);
        try registry.transferGovernance(target) {
            _ok("registryTransferGovernance");
            regGov = target;
            _exact(allowed, true, "registry transferGovernance by non-governance");
        } catch {
            _exact(allowed, false, "registry transferGovernance by governance failed");
        }
    }

    // =====================================================================
    // time
    // =====================================================================

    /// Jump a random time, or to the exact boundary (t-1, t, t+1) of an auction's current deadline.
    function warp(uint256 seconds_, uint256 i, uint256 mode) external {
        _count("warp");
        _ok("warp");
        uint256 id = _auction(i);
        IAuctionHouse.AuctionView memory v;
        if (id != 0) v = house.auction(id);
        // Only the deadlines of running and awaiting auctions (an access end is weeks away).
        if (mode % 2 == 0 && (v.state == OPEN || v.state == AWAITING_KEY)) {
            uint256 t = v.time + (v.state == OPEN && v.sealedBids ? v.window : 0);
            uint256 target = t + (mode % 3) - 1;
            if (target > block.timestamp) vm.warp(target);
        } else {
            vm.warp(block.timestamp + _bound(seconds_, 0, 1 days));
        }
    }

    // =====================================================================
    // internals
    // =====================================================================

    function _deposit(address actor, uint256 amount) private {
        _count("deposit");
        vm.deal(actor, actor.balance + amount);
        vm.prank(actor);
        try house.deposit{value: amount}() {
            _ok("deposit");
            ghostIn += amount;
        } catch {
            _violation("deposit failed");
        }
    }

    function _params(uint256 d, uint256 seed) private view returns (IAuctionHouse.OpenParams memory p) {
        uint256 h = uint256(keccak256(abi.encode(seed)));
        p.deviceId = deviceId(d);
        uint256 mk = seed % 8; // the spare (often unregistered) mechanism one time in eight
        p.mechanism = mechanisms[mk == 0 ? 2 : mk < 5 ? 0 : 1];
        p.reserve = uint88(h % 3 == 0 ? 0 : _bound(h >> 8, 1, 1 ether));
        p.increment = uint88((h >> 72) % 0.1 ether);
        p.biddingPeriod = uint40(_bound(h >> 136, 0, 2 days)); // 0 is refused
        p.window = uint24((h >> 160) % 2 hours);
        p.accessPeriod = uint40((h >> 176) % 60 days);
        p.deliveryWindow = uint40((h >> 200) % 5 days);
        uint256 b = (h >> 224) % 12;
        p.bondBps = uint16(b < 3 ? 0 : b < 5 ? 10_000 : b < 8 ? 5_000 : b < 10 ? 2_000 : b == 10 ? 1 : 10_001);
    }

    function _mayOpen(address actor, IAuctionHouse.OpenParams memory p) private view returns (bool) {
        Model memory m = _model[p.deviceId];
        return m.owner == actor && m.active && mechAllowed[p.mechanism] && p.biddingPeriod != 0 && p.bondBps <= BPS;
    }

    function _checkInData(uint256 d, address owner, uint256 seed, bool rightKey, bool goodTd)
        private
        view
        returns (DeviceRegistry.CheckIn memory c)
    {
        c.deviceId = deviceId(d);
        c.td = abi.encodePacked("td", seed);
        c.tdHash = goodTd ? keccak256(c.td) : bytes32(seed);
        c.x25519Key = keccak256(abi.encode("x25519", seed));
        c.signingKey = keccak256(abi.encode("ed25519", seed));
        c.tangleAddress = "tangle";
        c.reservePrice = uint80(seed % 1 ether);
        c.mechanism = uint8(seed % 2);
        uint256 pk = rightKey ? deviceKey(d) : deviceKey((d % N_DEVICES) + 1);
        bytes32 digest = registry.checkInDigest(c.deviceId, owner, c.x25519Key, c.signingKey);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        c.deviceSignature = abi.encodePacked(r, s, v);
    }

    function _checkInHonest(address owner, uint256 d, uint256 seed) private {
        DeviceRegistry.CheckIn memory c = _checkInData(d, owner, seed, true, true);
        vm.prank(owner);
        registry.checkIn(c);
        _applyCheckIn(owner, c);
    }

    function _applyCheckIn(address owner, DeviceRegistry.CheckIn memory c) private {
        _model[c.deviceId] = Model(owner, c.reservePrice, c.mechanism, true, false, c.signingKey);
    }

    /// Registering and unregistering mostly toggle the spare mechanism, so that auctions keep opening.
    function _mechanismToToggle(uint256 m) private view returns (address) {
        return m % 4 == 0 ? mechanisms[(m >> 2) % 2] : mechanisms[2];
    }

    /// The device's owner two times in three (when it has one), else any actor.
    function _ownerMostly(uint256 a, bytes32 id) private view returns (address) {
        address owner = _model[id].owner;
        return (a % 3 != 0 && owner != address(0)) ? owner : _actor(a / 3);
    }

    /// Three times in four a running auction of the wanted kind (a random one, else the newest
    /// such among the last six); else, or when there is none, any auction.
    function _openAuction(uint256 i, bool sealedBids) private view returns (uint256) {
        uint256 id = _auction(i);
        if (id == 0 || i % 4 == 0) return id;
        uint256 n = house.auctionCount();
        for (uint256 k = 0; k < 7 && k < n; ++k) {
            uint256 cand = k == 0 ? id : n + 1 - k;
            IAuctionHouse.AuctionView memory v = house.auction(cand);
            if (v.state == OPEN && v.sealedBids == sealedBids && block.timestamp < v.time) return cand;
        }
        return id;
    }

    /// The first auction of `device` that is open, or settled before its delivery deadline (0 if none).
    function _runningAuction(bytes32 device) private view returns (uint256) {
        uint256 n = house.auctionCount();
        for (uint256 id = 1; id <= n; ++id) {
            IAuctionHouse.AuctionView memory v = house.auction(id);
            if (v.deviceId != device) continue;
            if (v.state == OPEN || (v.state == AWAITING_KEY && block.timestamp < v.time)) return id;
        }
        return 0;
    }

    function _actor(uint256 a) private view returns (address) {
        return actors[a % N_ACTORS];
    }

    /// Governance calls come from the current governance half the time.
    function _caller(uint256 c) private view returns (address) {
        uint256 k = c % (2 * N_ACTORS + 2);
        if (k < N_ACTORS) return actors[k];
        if (k == N_ACTORS) return gov0;
        return k % 2 == 0 ? houseGov : regGov;
    }

    function _auction(uint256 i) private view returns (uint256) {
        uint256 n = house.auctionCount();
        return n == 0 ? 0 : (i % n) + 1;
    }

    /// Bids mostly between 0.01 and 10 ether; sometimes 0 or above the uint88 range.
    function _amount(uint256 x) private pure returns (uint256) {
        uint256 k = x % 50;
        if (k == 0) return 0;
        if (k == 1) return uint256(type(uint88).max) + 1;
        return _bound(x >> 8, 0.01 ether, 10 ether);
    }

    function _bound(uint256 x, uint256 lo, uint256 hi) private pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }

    function _count(bytes32 name) private {
        attempts[name] += 1;
    }

    function _ok(bytes32 name) private {
        successes[name] += 1;
    }

    function _exact(bool expected, bool happened, string memory what) private {
        if (expected != happened) _violation(what);
    }

    function _violation(string memory what) private {
        violations.push(what);
    }
}
