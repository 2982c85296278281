// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title MessageBoard
/// @notice The Ethereum side of the selectable Ledger: tagged messages published as events,
///         and value payments carrying a memo. Messages are not stored; the log is the record.
///         Payments are pull payments: `pay` credits the recipient, who later calls `withdraw`,
///         so a recipient contract can never block or re-enter a payer's transaction.
contract MessageBoard {
    /// @notice A message was published under `tag` by `sender`.
    event MessagePosted(address indexed sender, bytes32 indexed tag, bytes payload);
    /// @notice `from` paid `amount` wei to `to` (credited for withdrawal) with `memo`.
    event PaymentMade(address indexed from, address indexed to, uint256 amount, bytes memo);
    /// @notice `account` withdrew `amount` wei of its credit.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice The payload (or memo) is larger than the board accepts.
    error PayloadTooLarge(uint256 size, uint256 limit);
    /// @notice A payment must carry value.
    error ZeroPayment();
    /// @notice A payment cannot go to the zero address.
    error ZeroRecipient();
    /// @notice The caller has no credit to withdraw.
    error NothingToWithdraw(address account);
    /// @notice The value transfer of a withdrawal failed; the credit was restored.
    error WithdrawalFailed(address account, uint256 amount);

    uint256 private constant MAX_PAYLOAD = 16384;

    mapping(address => uint256) private _credit;

    /// @notice Publish `payload` under `tag`.
    /// @param tag a 32-byte topic readers filter on
    /// @param payload the message bytes (at most 16 KiB)
    function post(bytes32 tag, bytes calldata payload) external {
        if (payload.length > MAX_PAYLOAD) revert PayloadTooLarge(payload.length, MAX_PAYLOAD);
        emit MessagePosted(msg.sender, tag, payload);
    }

    /// @notice Pay `msg.value` to `to` with a memo; `to` may withdraw it at any time.
    /// @param to the recipient credited with the value
    /// @param memo protocol bytes describing the payment (at most 16 KiB)
    function pay(address to, bytes calldata memo) external payable {
        if (msg.value == 0) revert ZeroPayment();
        if (to == address(0)) revert ZeroRecipient();
        if (memo.length > MAX_PAYLOAD) revert PayloadTooLarge(memo.length, MAX_PAYLOAD);
        _credit[to] += msg.value;
        emit PaymentMade(msg.sender, to, msg.value, memo);
    }

    /// @notice Withdraw all of the caller's credit to the caller.
    function withdraw() external {
        uint256 amount = _credit[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _credit[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok, ) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert WithdrawalFailed(msg.sender, amount);
    }

    /// @notice The credit `account` can withdraw.
    /// @param account the account to query
    /// @return the withdrawable amount in wei
    function creditOf(address account) external view returns (uint256) {
        return _credit[account];
    }
}
