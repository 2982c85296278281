// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IAttackTarget {
    function deposit() external payable;
    function withdraw(uint256 amount) external;
    function registerBuyerKey(bytes32 key) external;
    function bidBatch(uint256[] calldata ids, uint256[] calldata amounts, bool strict) external returns (uint256);
}

/// @title RevertingBidder
/// @notice A bidder contract that refuses every ether transfer to it.
contract RevertingBidder {
    IAttackTarget private immutable _house;

    /// @notice The bidder acted on the house.
    event Acted(bytes4 selector);

    constructor(IAttackTarget house) {
        _house = house;
    }

    /// @notice Deposit the sent ether and register a buyer key.
    function fund(bytes32 key) external payable {
        _house.registerBuyerKey(key);
        _house.deposit{value: msg.value}();
        emit Acted(IAttackTarget.deposit.selector);
    }

    /// @notice Bid through the house.
    function bidBatch(uint256[] calldata ids, uint256[] calldata amounts) external {
        uint256 placed = _house.bidBatch(ids, amounts, true);
        emit Acted(placed == ids.length ? IAttackTarget.bidBatch.selector : bytes4(0));
    }

    /// @notice Try to withdraw (fails: this contract rejects ether).
    function withdraw(uint256 amount) external {
        _house.withdraw(amount);
        emit Acted(IAttackTarget.withdraw.selector);
    }

    receive() external payable {
        revert("no ether");
    }
}

/// @title ReentrantWithdrawer
/// @notice A bidder contract that re-enters withdraw from its receive hook.
contract ReentrantWithdrawer {
    IAttackTarget private immutable _house;
    uint256 private _reentries;
    uint256 private _amount;

    /// @notice The receive hook tried to re-enter; `ok` says whether the inner withdraw succeeded.
    event Reentered(uint256 depth, bool ok);

    constructor(IAttackTarget house) {
        _house = house;
    }

    /// @notice Deposit the sent ether and register a buyer key.
    function fund(bytes32 key) external payable {
        _house.registerBuyerKey(key);
        _house.deposit{value: msg.value}();
        emit Reentered(0, true);
    }

    /// @notice Bid through the house.
    function bidBatch(uint256[] calldata ids, uint256[] calldata amounts) external {
        uint256 placed = _house.bidBatch(ids, amounts, true);
        emit Reentered(0, placed == ids.length);
    }

    /// @notice Withdraw `amount` and try to withdraw it again from inside the transfer, `times` times.
    function attack(uint256 amount, uint256 times) external {
        _amount = amount;
        _reentries = times;
        _house.withdraw(amount);
        emit Reentered(times, true);
    }

    /// @notice Ether received by this contract so far.
    function received() external view returns (uint256) {
        return address(this).balance;
    }

    receive() external payable {
        if (_reentries > 0) {
            _reentries -= 1;
            // Swallow the inner failure so the outer withdraw completes; report what happened.
            try _house.withdraw(_amount) {
                emit Reentered(_reentries, true);
            } catch {
                emit Reentered(_reentries, false);
            }
        }
    }
}
