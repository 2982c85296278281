// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InvariantChecks} from "./HouseRegistry.invariants.t.sol";
import {AuctionHouse} from "../../contracts/AuctionHouse.sol";
import {IAuctionHouse} from "../../contracts/IAuctionHouse.sol";

/// @notice Each invariant check fails on a state that breaks what it guards (changes made
///         behind the handler's back), and all pass on the starting market: the checks can fail.
contract InvariantCanaries is InvariantChecks {
    function test_allChecksHoldOnTheStartingMarket() public {
        checkFundsConservation();
        checkEtherFlow();
        checkRegistryRecordsOwnerOnly();
        checkGovernanceOnly();
        checkNoUnexpectedOutcome();
        checkNoLockUpAfterAllDeadlines();
    }

    function test_fundsAndLockUpChecksCatchEtherNobodyOwns() public {
        vm.deal(address(house), address(house).balance + 1);
        _mustFail(this.checkFundsConservation.selector);
        _mustFail(this.checkNoLockUpAfterAllDeadlines.selector);
    }

    function test_etherFlowCheckCatchesADepositTheModelMissed() public {
        address a = handler.actors(0);
        vm.deal(a, 1 ether);
        vm.prank(a);
        house.deposit{value: 1 ether}();
        checkFundsConservation(); // still conserved...
        _mustFail(this.checkEtherFlow.selector); // ...but not what the handlers put in
    }

    function test_lockedCheckCatchesALockThatIsNoBondOrDeposit() public {
        // A sealed auction and a commitment the handler never saw: its deposit is locked
        // without a commitment the check knows of.
        address seller = handler.actors(0);
        (bytes32 id,) = handler.model(0);
        IAuctionHouse.OpenParams memory p;
        p.deviceId = id;
        p.mechanism = handler.mechanisms(1);
        p.biddingPeriod = 1 hours;
        vm.prank(seller);
        uint256 auctionId = house.open(p);
        address bidder = handler.actors(1);
        uint256[] memory ids = new uint256[](1);
        bytes32[] memory hs = new bytes32[](1);
        uint256[] memory deps = new uint256[](1);
        ids[0] = auctionId;
        hs[0] = keccak256("commitment");
        deps[0] = 1 ether;
        vm.prank(bidder);
        house.commitBatch(ids, hs, deps, true);
        _mustFail(this.checkFundsConservation.selector);
    }

    function test_registryCheckCatchesAChangeTheModelMissed() public {
        (bytes32 id,) = handler.model(0);
        address owner = handler.actors(0);
        address to = handler.actors(1);
        vm.prank(owner);
        registry.transferDevice(id, to);
        _mustFail(this.checkRegistryRecordsOwnerOnly.selector);
    }

    function test_governanceCheckCatchesAFeeChangeTheModelMissed() public {
        address gov = house.governance();
        address sink = handler.feeSink();
        vm.prank(gov);
        house.setFee(999, sink);
        _mustFail(this.checkGovernanceOnly.selector);
    }

    function _mustFail(bytes4 check) internal {
        (bool ok,) = address(this).call(abi.encodeWithSelector(check));
        if (ok) revert("the check passed on a broken state");
    }
}
