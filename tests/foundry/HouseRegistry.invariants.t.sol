// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Vm, VM_ADDRESS, FuzzSelector} from "./Vm.sol";
import {Handler} from "./Handler.sol";
import {AuctionHouse} from "../../contracts/AuctionHouse.sol";
import {IAuctionHouse, State} from "../../contracts/IAuctionHouse.sol";
import {DeviceRegistry} from "../../contracts/DeviceRegistry.sol";

/// @notice The checks behind the invariants of the AuctionHouse (with both mechanisms) and the DeviceRegistry under
///         random sequences of every external function (see Handler). Run by
///         tests/contracts/test_foundry_invariants.py; runs x depth is set in foundry.toml.
abstract contract InvariantChecks {
    Vm internal constant vm = Vm(VM_ADDRESS);
    uint256 private constant BPS = 10_000;
    State private constant OPEN = State.Open;
    State private constant AWAITING_KEY = State.AwaitingKey;

    Handler internal handler;
    AuctionHouse internal house;
    DeviceRegistry internal registry;
    address[] internal accounts;
    address[] internal mechanisms;
    address[] internal oems;

    function setUp() public {
        vm.warp(1_700_000_000);
        handler = new Handler();
        house = handler.house();
        registry = handler.registry();
        accounts = handler.accounts();
        for (uint256 m = 0; m < 3; ++m) {
            mechanisms.push(handler.mechanisms(m));
        }
        for (uint256 o = 0; o < handler.N_OEMS(); ++o) {
            oems.push(handler.oemAddress(o));
        }
    }

    // ---- the checks ----

    /// One pass over the auctions for both balance checks.
    /// Funds conservation: the house holds exactly every free and locked balance plus the
    /// payments awaiting key delivery. Locked accounting: every locked wei is the bond of a
    /// standing bid in a running auction (the first, and the second while bonds are partial)
    /// or an unrevealed sealed deposit; nothing else stays locked.
    function checkFundsConservation() public view {
        address[] memory acc = accounts;
        uint256[] memory expected = new uint256[](acc.length);
        uint256 held = 0;
        uint256 n = house.auctionCount();
        for (uint256 id = 1; id <= n; ++id) {
            IAuctionHouse.AuctionView memory v = house.auction(id);
            if (v.state == AWAITING_KEY) held += v.firstAmount;
            if (v.state == OPEN) {
                for (uint256 i = 0; i < acc.length; ++i) {
                    if (v.first == acc[i]) expected[i] += _bond(v.firstAmount, v.bondBps);
                    if (v.bondBps < BPS && v.second == acc[i]) expected[i] += _bond(v.secondAmount, v.bondBps);
                }
            }
            if (v.sealedBids) {
                uint256 mask = handler.committers(id);
                for (uint256 k = 0; mask != 0; ++k) {
                    if (mask & (1 << k) != 0) {
                        (, uint256 dep) = house.commitOf(id, acc[k]);
                        expected[k] += dep;
                        mask &= ~uint256(1 << k);
                    }
                }
            }
        }
        uint256 sum = held;
        for (uint256 i = 0; i < acc.length; ++i) {
            (uint256 free, uint256 locked) = house.balanceOf(acc[i]);
            sum += free + locked;
            _eq(locked, expected[i], "locked != bonds of standing bids + unrevealed deposits");
        }
        _eq(address(house).balance, sum, "house balance != free + locked + held");
    }

    /// Ether enters only by deposit and leaves only by withdraw.
    function checkEtherFlow() public view {
        _eq(address(house).balance, handler.ghostIn() - handler.ghostOut(), "house balance != deposited - withdrawn");
    }

    /// Registry records change only through their owner: every record equals the model, which
    /// only calls that the owner made (or an honest check-in with the device key) changed.
    function checkRegistryRecordsOwnerOnly() public view {
        (bytes32[6] memory ids, Handler.Model[6] memory ms) = handler.models();
        for (uint256 d = 0; d < ids.length; ++d) {
            Handler.Model memory m = ms[d];
            DeviceRegistry.DeviceView memory r = registry.device(ids[d]);
            if (r.owner != m.owner) revert("registry owner changed without its owner");
            if (r.reservePrice != m.reservePrice || r.mechanism != m.mechanism) revert("registry terms changed without its owner");
            if (r.active != m.active) revert("registry active flag changed without its owner");
            if (r.attested != m.attested) revert("registry attestation out of step");
            if (r.signingKey != m.signingKey) revert("registry signing key changed without its owner");
        }
    }

    /// Governance-only state of both contracts moved only by governance calls.
    function checkGovernanceOnly() public view {
        if (registry.governance() != handler.regGov()) revert("registry governance moved");
        if (house.governance() != handler.houseGov()) revert("house governance moved");
        (uint256 bps, address account) = house.fee();
        _eq(bps, handler.feeBps(), "fee changed without governance");
        if (account != handler.feeAccount()) revert("fee account changed without governance");
        for (uint256 m = 0; m < mechanisms.length; ++m) {
            if (house.isMechanism(mechanisms[m]) != handler.mechAllowed(mechanisms[m])) {
                revert("mechanism allow-list changed without governance");
            }
        }
        for (uint256 o = 0; o < oems.length; ++o) {
            if (registry.isOem(oems[o]) != handler.oemAllowed(oems[o])) revert("OEM allow-list changed without governance");
        }
        if (registry.house() != address(house)) revert("the registry's house changed");
    }

    /// Every handler's authorization and outcome predictions held (owner-only and
    /// governance-only calls, winner-only reclaim and rating, seller-only delivery...).
    function checkNoUnexpectedOutcome() public view {
        uint256 n = handler.violationCount();
        if (n != 0) revert(string.concat("unexpected outcome: ", handler.violations(0)));
    }

    /// No lock-up: once every deadline has passed, anyone can settle every auction, forfeit
    /// every unrevealed deposit and every winner can reclaim an undelivered payment; then every
    /// account withdraws all it has and the house is empty. Done on a snapshot, then undone.
    function checkNoLockUpAfterAllDeadlines() public {
        uint256 snap = vm.snapshotState();
        address[] memory acc = accounts;
        uint256 n = house.auctionCount();
        vm.warp(block.timestamp + 4000 days);
        for (uint256 id = 1; id <= n; ++id) {
            uint256[] memory one = new uint256[](1);
            one[0] = id;
            try house.settleBatch(one) {} catch { revert(string.concat("settle after all deadlines failed: ", _str(id))); }
            IAuctionHouse.AuctionView memory v = house.auction(id);
            if (v.sealedBids && (v.state == State.Cancelled || v.state == State.Voided)) {
                try house.releaseCommitments(id, acc) {} catch { revert("releaseCommitments of a cancelled or voided auction failed"); }
            } else if (v.sealedBids) {
                try house.forfeitUnrevealed(id, acc) {} catch { revert("forfeitUnrevealed after all deadlines failed"); }
            }
        }
        vm.warp(block.timestamp + 4000 days);
        for (uint256 id = 1; id <= n; ++id) {
            IAuctionHouse.AuctionView memory v = house.auction(id);
            if (v.state == AWAITING_KEY) {
                vm.prank(v.first);
                try house.reclaim(id) {} catch { revert(string.concat("reclaim after the deadline failed: ", _str(id))); }
            }
        }
        for (uint256 i = 0; i < acc.length; ++i) {
            (uint256 free, uint256 locked) = house.balanceOf(acc[i]);
            _eq(locked, 0, "locked after all deadlines");
            if (free == 0) continue;
            uint256 before = acc[i].balance;
            vm.prank(acc[i]);
            try house.withdrawAll() {} catch { revert("withdrawAll after all deadlines failed"); }
            _eq(acc[i].balance, before + free, "withdrawAll paid the wrong amount");
        }
        _eq(address(house).balance, 0, "ether left in the house after everyone withdrew");
        vm.revertToState(snap);
    }

    // ---- helpers ----

    function _bond(uint256 amount, uint256 bondBps) internal pure returns (uint256) {
        return bondBps == BPS ? amount : (amount * bondBps + BPS - 1) / BPS;
    }

    function _eq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) revert(string.concat(what, ": ", _str(a), " != ", _str(b)));
    }

    function _str(uint256 x) internal pure returns (string memory) {
        if (x == 0) return "0";
        bytes memory b = new bytes(78);
        uint256 i = 78;
        while (x != 0) {
            b[--i] = bytes1(uint8(48 + (x % 10)));
            x /= 10;
        }
        bytes memory out = new bytes(78 - i);
        for (uint256 k = 0; k < out.length; ++k) {
            out[k] = b[i + k];
        }
        return string(out);
    }
}

/// @notice The campaign: forge calls the Handler at random, then the one invariant.
contract HouseRegistryInvariants is InvariantChecks {
    // ---- what forge fuzzes ----

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory s) {
        bytes4[] memory sel = new bytes4[](32);
        sel[0] = Handler.deposit.selector;
        sel[1] = Handler.withdraw.selector;
        sel[2] = Handler.withdrawAll.selector;
        sel[3] = Handler.registerBuyerKey.selector;
        sel[4] = Handler.open.selector;
        sel[5] = Handler.openBatch.selector;
        sel[6] = Handler.bid.selector;
        sel[7] = Handler.bidBatch.selector;
        sel[8] = Handler.commit.selector;
        sel[9] = Handler.reveal.selector;
        sel[10] = Handler.forfeitUnrevealed.selector;
        sel[11] = Handler.settle.selector;
        sel[12] = Handler.deliverKey.selector;
        sel[13] = Handler.reclaim.selector;
        sel[14] = Handler.rate.selector;
        sel[15] = Handler.registerMechanism.selector;
        sel[16] = Handler.unregisterMechanism.selector;
        sel[17] = Handler.setFee.selector;
        sel[18] = Handler.houseTransferGovernance.selector;
        sel[19] = Handler.checkIn.selector;
        sel[20] = Handler.checkInBatch.selector;
        sel[21] = Handler.update.selector;
        sel[22] = Handler.checkOut.selector;
        sel[23] = Handler.transferDevice.selector;
        sel[24] = Handler.attest.selector;
        sel[25] = Handler.setOem.selector;
        sel[26] = Handler.setHouse.selector;
        sel[27] = Handler.registryTransferGovernance.selector;
        sel[28] = Handler.warp.selector;
        sel[29] = Handler.releaseCommitments.selector;
        sel[30] = Handler.onCheckOut.selector;
        sel[31] = Handler.onTransfer.selector;
        // The auction life cycle is listed twice: drawn uniformly, the 32 selectors would leave
        // too few bids, reveals and deliveries per run.
        bytes4[] memory all = new bytes4[](sel.length + 10);
        for (uint256 i = 0; i < sel.length; ++i) {
            all[i] = sel[i];
        }
        all[32] = Handler.open.selector;
        all[33] = Handler.bid.selector;
        all[34] = Handler.bidBatch.selector;
        all[35] = Handler.commit.selector;
        all[36] = Handler.reveal.selector;
        all[37] = Handler.settle.selector;
        all[38] = Handler.deliverKey.selector;
        all[39] = Handler.reclaim.selector;
        all[40] = Handler.rate.selector;
        all[41] = Handler.deposit.selector;
        s = new FuzzSelector[](1);
        s[0] = FuzzSelector(address(handler), all);
    }

    // ---- the invariant (one campaign: every check after every call) ----

    /// Checked after every handler call. One invariant function instead of one per property:
    /// forge runs a separate campaign per invariant function, and each check is cheap next to
    /// the calls, so one campaign of runs x depth calls checks everything at every step.
    function invariant_houseAndRegistry() public {
        checkFundsConservation();
        checkEtherFlow();
        checkRegistryRecordsOwnerOnly();
        checkGovernanceOnly();
        checkNoUnexpectedOutcome();
    }

    /// After each run (500 calls): no lock-up from the state the run reached (every deadline
    /// passed on a snapshot; too heavy for every call: it settles, forfeits, reclaims and
    /// withdraws everything), then the run's successful calls per handler appended to the stats
    /// file named by THINGBID_FORGE_STATS (the pytest wrapper checks every handler succeeded somewhere).
    function afterInvariant() public {
        checkNoLockUpAfterAllDeadlines();
        string memory path = vm.envOr("THINGBID_FORGE_STATS", string(""));
        if (bytes(path).length != 0) vm.writeLine(path, handler.stats());
    }
}
