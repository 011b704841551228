// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IShardRegistry, ShardStage} from "./IShardRegistry.sol";

import {
    InferenceRequest,
    RequestArgs,
    PermitArgs,
    Fulfillment,
    RequestState,
    MarketParams,
    InputKind,
    OutputKind,
    RequestStatus,
    DeclineReason
} from "../types/InferenceTypes.sol";

/// @title IInferenceMarket
/// @notice Pay-per-request inference: a requester escrows a fee (ETH or token) for a model version, a
/// staked worker claims the request, fulfils it with the output, and is credited; the requester is
/// refunded after the deadline otherwise. One storage word per open request (docs/inference-market.md).
interface IInferenceMarket {
    /// @notice Thrown when the model version was never published.
    error InferenceMarketUnknownModelVersion(uint64 modelVersionId);
    /// @notice Thrown when the model version is deprecated.
    error InferenceMarketModelVersionDeprecated(uint64 modelVersionId);
    /// @notice Thrown when the fee is below price + callback gas.
    error InferenceMarketFeeTooLow(uint256 fee, uint256 minFee);
    /// @notice Thrown when an ETH fee does not fit in uint96.
    error InferenceMarketFeeTooHigh(uint256 fee);
    /// @notice Thrown when royalty + protocol fee exceed the fee.
    error InferenceMarketSplitTooHigh(uint16 royaltyBps, uint16 protocolFeeBps);
    /// @notice Thrown when the deadline is not in the future or beyond `maxRequestLifetime`.
    error InferenceMarketInvalidDeadline(uint32 deadline, uint256 latest);
    /// @notice Thrown for an empty input.
    error InferenceMarketEmptyInput();
    /// @notice Thrown for an input longer than allowed for its kind.
    error InferenceMarketInputTooLarge(uint256 length, uint256 maxLength);
    /// @notice Thrown when a request with the same id is already open.
    error InferenceMarketDuplicateRequest(uint256 requestId);
    /// @notice Thrown when the id is not an open request (unknown, settled, or terms that do not hash to it).
    error InferenceMarketRequestNotOpen(uint256 requestId);
    /// @notice Thrown when claiming a request whose claim is still exclusive to another worker.
    error InferenceMarketAlreadyClaimed(uint256 requestId, address claimant, uint32 claimExpiry);
    /// @notice Thrown when claiming or fulfilling after the deadline.
    error InferenceMarketRequestExpired(uint256 requestId, uint32 deadline);
    /// @notice Thrown when the worker may not serve the version (see WorkerRegistry.isEligibleInferrer).
    error InferenceMarketWorkerNotEligible(address worker, uint64 modelVersionId);
    /// @notice Thrown when someone other than the claimant fulfils while the claim is still exclusive.
    error InferenceMarketNotClaimant(uint256 requestId, address caller, address claimant);
    /// @notice Thrown when the fulfiller leaves too little gas for the requester's callback.
    error InferenceMarketInsufficientGasForCallback(uint256 requestId, uint256 gasLeft, uint256 callbackGasLimit);
    /// @notice Thrown when refunding before the deadline.
    error InferenceMarketDeadlineNotPassed(uint256 requestId, uint32 deadline);
    /// @notice Thrown by `withdraw` when there is no credit.
    error InferenceMarketNothingToWithdraw(address account, address token);
    /// @notice Thrown by `requestInferenceWithToken` when the TesseraToken is not configured.
    error InferenceMarketZeroAddress();
    /// @notice Thrown when parameters are out of range or break the unbonding guarantee.
    error InferenceMarketInvalidParams();
    /// @notice Thrown when `onVersionTermsUpdated` is called by anyone but the ModelRegistry.
    error InferenceMarketNotModelRegistry(address caller);
    /// @notice Thrown when a callback gas limit is above `MAX_CALLBACK_GAS_LIMIT`: no fulfilment could carry it.
    error InferenceMarketCallbackGasTooHigh(uint32 callbackGasLimit, uint32 maxCallbackGasLimit);
    /// @notice Thrown when an inline input cannot be the version's declared input (`inputElements` values of 1, 2,
    /// 4 or 8 bytes each).
    error InferenceMarketInputSizeMismatch(uint256 length, uint256 inputElements);
    /// @notice Thrown when a CID input is neither a CIDv1 (first byte 0x01) nor a 34-byte CIDv0 (0x1220 prefix).
    error InferenceMarketMalformedCid();
    /// @notice Thrown when a claim would make the worker's open claims, each liable to `lapseSlash`, exceed its stake.
    /// @param worker The claimant.
    /// @param openClaims Its open claims including the ones asked for.
    /// @param stake Its stake.
    error InferenceMarketClaimsExceedStake(address worker, uint256 openClaims, uint256 stake);
    /// @notice Thrown by `decline` when the arrays differ in length or a reason is `None`.
    error InferenceMarketInvalidDecline();
    /// @notice Thrown by `fulfill`/`fulfillBatch` for a sharded version: its requests are fulfilled by `fulfillSharded`.
    error InferenceMarketShardedVersion(uint64 modelVersionId);
    /// @notice Thrown by `fulfillSharded` before the ShardRegistry is set.
    error InferenceMarketNoShardRegistry();
    /// @notice Thrown by `setShardRegistry` once it is set.
    error InferenceMarketShardRegistryAlreadySet(address shardRegistry);
    /// @notice Thrown by `fulfillSharded` when an inline output's keccak256 is not the given output hash.
    error InferenceMarketOutputHashMismatch(bytes32 actual, bytes32 given);
    /// @notice Thrown by `fulfillSharded` when the caller does not hold the request's claim (sharded requests are
    /// fulfilled by their claimant only).
    error InferenceMarketShardedNeedsClaim(uint256 requestId);

    /// @notice Emitted when a request is opened.
    /// @param requestId keccak256(abi.encode(request)).
    /// @param requester Payer (and callback target); indexed so that a dApp can filter "my requests".
    /// @param request The full terms, model version included; pass them back to `fulfill`/`refund`.
    /// @param inputKind Inline bytes or CID.
    /// @param input The input (its keccak256 is `request.inputHash`).
    event InferenceRequested(
        uint256 indexed requestId, address indexed requester, InferenceRequest request, InputKind inputKind, bytes input
    );
    /// @notice Emitted once per `claim`/`claimBatch` call that claimed at least one request.
    /// @param worker The claimant.
    /// @param claimExpiry Until when the claims are exclusive.
    /// @param requestIds The ids actually claimed.
    event InferencesClaimed(address indexed worker, uint32 claimExpiry, uint256[] requestIds);
    /// @notice Emitted when a lapsed claimant is replaced (it is slashed `lapseSlash`).
    /// @param requestId The request.
    /// @param claimant The lapsed claimant.
    /// @param slashed Tokens actually slashed.
    event ClaimLapsed(uint256 indexed requestId, address indexed claimant, uint256 slashed);
    /// @notice Emitted when an eligible worker declines an open request it will not claim (nothing else changes).
    /// @param requestId The request.
    /// @param worker The declining worker.
    /// @param reason Why (see `DeclineReason`).
    event InferenceDeclined(uint256 indexed requestId, address indexed worker, DeclineReason reason);
    /// @notice Emitted when a request is fulfilled.
    /// @param requestId The request.
    /// @param worker The fulfiller, whose earnings grew by the fee.
    /// @param outputKind Inline bytes or CID.
    /// @param outputHash The worker's commitment to the output.
    /// @param output The output.
    event InferenceFulfilled(
        uint256 indexed requestId, address worker, OutputKind outputKind, bytes32 outputHash, bytes output
    );
    /// @notice Emitted when the requester's callback reverted or ran out of gas (the fulfilment stands).
    /// @param requestId The request.
    event InferenceCallbackFailed(uint256 indexed requestId);
    /// @notice Emitted when an expired request is refunded in full to the requester's credit.
    /// @param requestId The request.
    /// @param requester Credited account.
    /// @param token address(0) for ETH.
    /// @param fee Amount credited.
    event InferenceRefunded(uint256 indexed requestId, address indexed requester, address token, uint256 fee);
    /// @notice Emitted per (worker, version) by `settle`: the worker's unsettled earnings split into credits.
    /// @param worker The worker whose earnings were settled.
    /// @param modelVersionId The version.
    /// @param token address(0) for ETH.
    /// @param owner The version's current owner, credited with the royalty.
    /// @param workerShare Amount credited to the worker.
    /// @param royalty Amount credited to the owner (fees * royaltyBps / 10_000, rounded down once).
    /// @param protocolFee Amount credited to the treasury.
    event EarningsSettled(
        address indexed worker,
        uint64 indexed modelVersionId,
        address indexed token,
        address owner,
        uint256 workerShare,
        uint256 royalty,
        uint256 protocolFee
    );
    /// @notice Emitted on `withdraw`.
    /// @param account Receiver.
    /// @param token address(0) for ETH.
    /// @param amount Amount paid.
    event Withdrawn(address indexed account, address indexed token, uint256 amount);
    /// @notice A sharded request's fee, split at fulfilment: `amounts[i]` to `hosts[i]` (the host of shard i).
    event ShardedFulfilmentPaid(
        uint256 indexed requestId,
        address token,
        address owner,
        uint256 royalty,
        uint256 protocolFee,
        address[] hosts,
        uint256[] amounts
    );
    /// @notice The ShardRegistry that checks sharded pipelines was set (once).
    event ShardRegistrySet(address indexed shardRegistry);
    /// @notice Emitted when the parameters change.
    /// @param params The new parameters.
    event ParamsUpdated(MarketParams params);
    /// @notice Emitted when the treasury changes.
    /// @param treasury The new treasury.
    event TreasuryUpdated(address indexed treasury);

    /// @notice Opens a request paid in ETH (`msg.value` is the fee).
    function requestInference(RequestArgs calldata args) external payable returns (uint256 requestId);
    /// @notice Opens a request paid in TesseraToken, optionally with an ERC-2612 permit (no approve tx).
    function requestInferenceWithToken(RequestArgs calldata args, uint96 fee, PermitArgs calldata permit)
        external
        returns (uint256 requestId);
    /// @notice Claims an open request (or one whose claim lapsed) for `claimWindow` seconds. Not pausable. A worker
    /// holds at most `stake / lapseSlash` open claims, so that abandoning all of them costs it their full slashes.
    function claim(uint256 requestId) external;
    /// @notice Claims every claimable id, up to the caller's room under its stake (`claim`); skips the rest.
    /// @return claimed How many were claimed.
    function claimBatch(uint256[] calldata requestIds) external returns (uint256 claimed);
    /// @notice Tells requesters why the caller will not serve their open requests (an event per request; nothing is
    /// cancelled or released, so nobody can use it against other people's requests). Only an eligible worker of the
    /// request's version may decline; ids that are not open or not the caller's to serve are skipped.
    /// @return declined How many `InferenceDeclined` events were emitted.
    function decline(uint256[] calldata requestIds, DeclineReason[] calldata reasons) external returns (uint256 declined);
    /// @notice Delivers the output of a request; adds its fee to the caller's earnings; runs the callback.
    /// The caller is the claimant, or any eligible worker when the request is unclaimed or its claim lapsed (the
    /// optimistic path: no claim transaction; a lapsed claimant is slashed as by `claim`).
    function fulfill(InferenceRequest calldata request, OutputKind outputKind, bytes calldata output, bytes32 outputHash)
        external;
    /// @notice `fulfill` for many requests in one transaction (all or nothing); eligibility, where needed, is
    /// asked once per distinct version.
    function fulfillBatch(Fulfillment[] calldata items) external;
    /// @notice Refunds an expired request in full to the requester's credit; slashes a lapsed claimant.
    function refund(InferenceRequest calldata request) external;
    /// @notice Splits `worker`'s unsettled earnings in `token` for each version into credits: royalty
    /// (fees * royaltyBps / 10_000) to the version's current owner, the summed protocol fees to the treasury, the
    /// rest to the worker. Anyone may call; ids without earnings are skipped.
    function settle(address worker, uint64[] calldata modelVersionIds, address token) external;
    /// @notice Pays out the caller's whole credit in `token` (address(0) = ETH).
    function withdraw(address token) external;

    /// @notice Credit of `account` in `token`.
    function creditOf(address account, address token) external view returns (uint256);
    /// @notice Called by the ModelRegistry when a version is published or its terms change (deprecation): the
    /// market caches them so that `requestInference` never calls the registry.
    /// @param inputElements Values in one input (product of the declared input shape; 0 = unknown, not checked).
    function onVersionTermsUpdated(
        uint64 modelVersionId,
        uint96 priceWei,
        uint96 priceToken,
        uint16 royaltyBps,
        uint32 inputElements,
        bool active,
        bool sharded
    ) external;

    /// @notice Fulfils a request on a sharded version with its pipeline: one stage per shard, each signed by a host of
    /// that shard (see IShardRegistry.verifyPipeline). Pays the hosts by their shards' cost weights at once.
    function fulfillSharded(Fulfillment calldata item, ShardStage[] calldata stages) external;
    /// @notice Sets the ShardRegistry (DEFAULT_ADMIN_ROLE, once).
    function setShardRegistry(IShardRegistry shardRegistry_) external;
    /// @notice The ShardRegistry (address(0) until set).
    function shardRegistry() external view returns (address);

    /// @notice Unsettled earnings of `worker` on a version in `token`: summed fees and summed protocol fees.
    function earnedOf(address worker, uint64 modelVersionId, address token)
        external
        view
        returns (uint128 fees, uint128 protocolFees);
    /// @notice The cached terms of a version (`active` false and all zero for an unknown version).
    function versionTerms(uint64 modelVersionId)
        external
        view
        returns (bool known, bool active, uint96 priceWei, uint96 priceToken, uint16 royaltyBps, uint32 inputElements);
    /// @notice Requests `worker` holds a claim on that are not yet fulfilled, refunded or taken over.
    function openClaimsOf(address worker) external view returns (uint256);
    /// @notice Seconds a claim is exclusive (immutable).
    function claimWindow() external view returns (uint32);
    /// @notice The decoded storage word of a request.
    function requestState(uint256 requestId) external view returns (RequestState memory);
    /// @notice `requestState` of each id, in order: a worker reads a whole batch in one call.
    function requestStates(uint256[] calldata requestIds) external view returns (RequestState[] memory);
    /// @notice keccak256(abi.encode(request)).
    function requestIdOf(InferenceRequest calldata request) external pure returns (uint256);
    /// @notice Current parameters.
    function params() external view returns (MarketParams memory);
    /// @notice Receiver of protocol fees and lapse slashes.
    function treasury() external view returns (address);
}
