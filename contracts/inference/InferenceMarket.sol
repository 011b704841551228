// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IWorkerRegistry} from "../interfaces/IWorkerRegistry.sol";
import {
    InferenceRequest,
    RequestArgs,
    PermitArgs,
    Fulfillment,
    RequestState,
    MarketParams,
    InputKind,
    OutputKind,
    RequestStatus
} from "../types/InferenceTypes.sol";

/// @title InferenceMarket
/// @notice Escrowed, pay-per-request inference on registered model versions. See docs/inference-market.md.
/// @dev Each open request is one storage word:
/// `status (8) | deadline (32) | claimExpiry (32) | claimant (160) | modelVersionId (24)` (low to high bits).
/// The full terms (`InferenceRequest`) travel in events and calldata; their hash is the request id.
contract InferenceMarket is IInferenceMarket, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role that tunes `MarketParams`.
    bytes32 public constant PARAMS_ROLE = keccak256("PARAMS_ROLE");
    /// @notice Role that pauses new requests and claims.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Upper bound of `protocolFeeBps`.
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 2_000;
    /// @notice Longest accepted CID input.
    uint256 public constant MAX_CID_INPUT_BYTES = 64;
    /// @dev Gas kept back, on top of the 1/64 rule, to pay for reaching the consumer and finishing.
    uint256 private constant _CALLBACK_GAS_RESERVE = 5_000;
    uint256 private constant _BPS = 10_000;

    IERC20 private immutable _token;
    IWorkerRegistry private immutable _workers;
    IModelRegistry private immutable _models;

    // Declared first so that they share a slot with Pausable's `_paused`: requestInference and claim
    // read a single parameter slot.
    uint16 private _protocolFeeBps;
    uint32 private _claimWindow;
    uint32 private _maxRequestLifetime;
    uint32 private _refundGracePeriod;
    uint32 private _maxInlineInputBytes;
    uint64 private _callbackGasPriceWei;
    uint96 private _callbackGasPriceToken;
    uint96 private _lapseSlash;
    address private _treasury;

    mapping(uint256 requestId => uint256 packed) private _requests;
    mapping(address account => mapping(address token => uint256)) private _credits;
    /// @dev royalty (low 128 bits) | protocol fee (high 128 bits). Fees are uint96, so the halves cannot overflow
    /// into each other before more than 2^32 maximal fees accrue unsettled.
    mapping(uint64 versionId => mapping(address token => uint256 packed)) private _accrued;

    /// @param admin Receives DEFAULT_ADMIN_ROLE, PARAMS_ROLE and PAUSER_ROLE.
    /// @param token_ The TesseraToken (token payments, permit).
    /// @param workers_ The WorkerRegistry (this market needs its SLASHER_ROLE).
    /// @param models_ The ModelRegistry.
    /// @param treasury_ Receiver of protocol fees and lapse slashes.
    /// @param params_ Initial parameters.
    constructor(
        address admin,
        IERC20 token_,
        IWorkerRegistry workers_,
        IModelRegistry models_,
        address treasury_,
        MarketParams memory params_
    ) {
        if (address(token_) == address(0) || address(workers_) == address(0) || address(models_) == address(0)) {
            revert InferenceMarketZeroAddress();
        }
        _token = token_;
        _workers = workers_;
        _models = models_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PARAMS_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _setTreasury(treasury_);
        _setParams(params_);
    }

    // ---------------------------------------------------------------- requests

    /// @inheritdoc IInferenceMarket
    function requestInference(RequestArgs calldata args) external payable whenNotPaused returns (uint256 requestId) {
        if (msg.value > type(uint96).max) revert InferenceMarketFeeTooHigh(msg.value);
        (uint16 royaltyBps, uint96 priceWei,) = _terms(args.modelVersionId);
        uint256 minFee = priceWei + uint256(args.callbackGasLimit) * _callbackGasPriceWei;
        if (msg.value < minFee) revert InferenceMarketFeeTooLow(msg.value, minFee);
        requestId = _open(args, address(0), uint96(msg.value), royaltyBps);
    }

    /// @inheritdoc IInferenceMarket
    function requestInferenceWithToken(RequestArgs calldata args, uint96 fee, PermitArgs calldata permit)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 requestId)
    {
        (uint16 royaltyBps,, uint96 priceToken) = _terms(args.modelVersionId);
        uint256 minFee = priceToken + uint256(args.callbackGasLimit) * _callbackGasPriceToken;
        if (fee < minFee) revert InferenceMarketFeeTooLow(fee, minFee);
        requestId = _open(args, address(_token), fee, royaltyBps);
        if (permit.deadline != 0) {
            // A front-runner may have used the permit already; the transfer below then relies on the allowance.
            try IERC20Permit(address(_token)).permit(
                msg.sender, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
            ) {} catch {}
        }
        _token.safeTransferFrom(msg.sender, address(this), fee);
    }

    // ---------------------------------------------------------------- claims

    /// @inheritdoc IInferenceMarket
    function claim(uint256 requestId) external whenNotPaused {
        uint256 word = _requests[requestId];
        (RequestStatus status, uint32 deadline, uint32 claimExpiry, address claimant, uint64 versionId) = _unpack(word);
        if (status == RequestStatus.None) revert InferenceMarketRequestNotOpen(requestId);
        if (block.timestamp > deadline) revert InferenceMarketRequestExpired(requestId, deadline);
        if (status == RequestStatus.Claimed && block.timestamp <= claimExpiry) {
            revert InferenceMarketAlreadyClaimed(requestId, claimant, claimExpiry);
        }
        if (!_workers.isEligibleInferrer(msg.sender, versionId)) {
            revert InferenceMarketWorkerNotEligible(msg.sender, versionId);
        }
        uint32 expiry = uint32(block.timestamp) + _claimWindow;
        _requests[requestId] = _pack(RequestStatus.Claimed, deadline, expiry, msg.sender, versionId);
        uint256[] memory ids = new uint256[](1);
        ids[0] = requestId;
        emit InferencesClaimed(msg.sender, expiry, ids);
        if (status == RequestStatus.Claimed) _slashLapsed(requestId, claimant);
    }

    /// @inheritdoc IInferenceMarket
    function claimBatch(uint256[] calldata requestIds) external whenNotPaused returns (uint256 claimed) {
        uint256 n = requestIds.length;
        uint256[] memory ids = new uint256[](n);
        // Lapsed claims taken over: (index into requestIds, previous claimant), slashed after the loop.
        uint256[] memory lapsed = new uint256[](n);
        uint256 nLapsed;
        // Eligibility is checked once per distinct version: each entry is versionId | eligible << 64.
        uint256[] memory checked = new uint256[](n);
        uint256 nChecked;
        uint32 expiry = uint32(block.timestamp) + _claimWindow;

        for (uint256 i; i < n; ++i) {
            uint256 requestId = requestIds[i];
            bool ok;
            address lapsedClaimant;
            (ok, nChecked, lapsedClaimant) = _tryClaim(requestId, expiry, checked, nChecked);
            if (!ok) continue;
            ids[claimed++] = requestId;
            if (lapsedClaimant != address(0)) lapsed[nLapsed++] = i | (uint256(uint160(lapsedClaimant)) << 96);
        }
        if (claimed == 0) return 0;
        assembly ("memory-safe") {
            mstore(ids, claimed)
        }
        emit InferencesClaimed(msg.sender, expiry, ids);
        for (uint256 j; j < nLapsed; ++j) {
            _slashLapsed(requestIds[uint96(lapsed[j])], address(uint160(lapsed[j] >> 96)));
        }
    }

    // ---------------------------------------------------------------- fulfilment

    /// @inheritdoc IInferenceMarket
    function fulfill(InferenceRequest calldata request, OutputKind outputKind, bytes calldata output, bytes32 outputHash)
        external
        nonReentrant
    {
        uint256 requestId = _consume(request);
        address token = request.paymentToken;
        (uint256 workerShare, uint256 accrual) = _split(request);
        _credits[msg.sender][token] += workerShare;
        if (accrual != 0) _accrued[request.modelVersionId][token] += accrual;
        emit InferenceFulfilled(requestId, msg.sender, outputKind, outputHash, output);
        if (request.callbackGasLimit != 0) {
            _callback(requestId, request.requester, request.callbackGasLimit, output);
        }
    }

    /// @inheritdoc IInferenceMarket
    function fulfillBatch(Fulfillment[] calldata items) external nonReentrant {
        uint256 n = items.length;
        uint256[] memory ids = new uint256[](n);
        // Distinct (version, token) pairs: key = versionId | token << 64, with their summed accruals.
        uint256[] memory accrualKeys = new uint256[](n);
        uint256[] memory accrualSums = new uint256[](n);
        uint256 nAccruals;
        uint256 ethCredit;
        uint256 tokenCredit;
        bool anyCallback;

        for (uint256 i; i < n; ++i) {
            Fulfillment calldata item = items[i];
            InferenceRequest calldata request = item.request;
            uint256 requestId = _consume(request);
            if (request.callbackGasLimit != 0) {
                ids[i] = requestId;
                anyCallback = true;
            }
            (uint256 workerShare, uint256 accrual) = _split(request);
            address token = request.paymentToken;
            if (token == address(0)) ethCredit += workerShare;
            else tokenCredit += workerShare;
            if (accrual != 0) {
                uint256 key = uint256(request.modelVersionId) | (uint256(uint160(token)) << 64);
                uint256 k;
                while (k < nAccruals && accrualKeys[k] != key) ++k;
                if (k == nAccruals) {
                    accrualKeys[k] = key;
                    ++nAccruals;
                }
                accrualSums[k] += accrual;
            }
            emit InferenceFulfilled(requestId, msg.sender, item.outputKind, item.outputHash, item.output);
        }

        if (ethCredit != 0) _credits[msg.sender][address(0)] += ethCredit;
        if (tokenCredit != 0) _credits[msg.sender][address(_token)] += tokenCredit;
        for (uint256 k; k < nAccruals; ++k) {
            uint256 key = accrualKeys[k];
            _accrued[uint64(key)][address(uint160(key >> 64))] += accrualSums[k];
        }

        if (!anyCallback) return;
        for (uint256 i; i < n; ++i) {
            if (ids[i] == 0) continue;
            InferenceRequest calldata request = items[i].request;
            _callback(ids[i], request.requester, request.callbackGasLimit, items[i].output);
        }
    }

    /// @inheritdoc IInferenceMarket
    function refund(InferenceRequest calldata request) external nonReentrant {
        uint256 requestId = _hash(request);
        (RequestStatus status,,, address claimant,) = _unpack(_requests[requestId]);
        if (status == RequestStatus.None) revert InferenceMarketRequestNotOpen(requestId);
        if (block.timestamp <= request.deadline) revert InferenceMarketDeadlineNotPassed(requestId, request.deadline);
        delete _requests[requestId];
        _credits[request.requester][request.paymentToken] += request.fee;
        emit InferenceRefunded(requestId, request.requester, request.paymentToken, request.fee);
        if (status == RequestStatus.Claimed) _slashLapsed(requestId, claimant);
    }

    // ---------------------------------------------------------------- money out

    /// @inheritdoc IInferenceMarket
    function settleAccruals(uint64[] calldata modelVersionIds, address token) external nonReentrant {
        uint256 protocolTotal;
        for (uint256 i; i < modelVersionIds.length; ++i) {
            uint64 versionId = modelVersionIds[i];
            uint256 packed = _accrued[versionId][token];
            if (packed == 0) continue;
            delete _accrued[versionId][token];
            uint256 royalty = uint128(packed);
            uint256 protocolFee = packed >> 128;
            (address owner,,,,) = _models.inferenceTerms(versionId);
            if (royalty != 0) _credits[owner][token] += royalty;
            protocolTotal += protocolFee;
            emit AccrualsSettled(versionId, token, owner, royalty, protocolFee);
        }
        if (protocolTotal != 0) _credits[_treasury][token] += protocolTotal;
    }

    /// @inheritdoc IInferenceMarket
    function withdraw(address token) external nonReentrant {
        uint256 amount = _credits[msg.sender][token];
        if (amount == 0) revert InferenceMarketNothingToWithdraw(msg.sender, token);
        delete _credits[msg.sender][token];
        emit Withdrawn(msg.sender, token, amount);
        if (token == address(0)) Address.sendValue(payable(msg.sender), amount);
        else IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Replaces the market parameters.
    /// @dev `maxRequestLifetime + refundGracePeriod` must stay below the WorkerRegistry's unbonding floor, so
    /// that a claimant can never unbond before its obligations can be refunded and slashed.
    function setParams(MarketParams calldata params_) external onlyRole(PARAMS_ROLE) {
        _setParams(params_);
    }

    /// @notice Replaces the treasury (receiver of future protocol-fee settlements and slashes).
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(treasury_);
    }

    /// @notice Stops new requests and claims. Fulfil, refund, settle and withdraw keep working.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes new requests and claims.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IInferenceMarket
    function creditOf(address account, address token) external view returns (uint256) {
        return _credits[account][token];
    }

    /// @inheritdoc IInferenceMarket
    function accruedOf(uint64 modelVersionId, address token)
        external
        view
        returns (uint128 royalty, uint128 protocolFee)
    {
        uint256 packed = _accrued[modelVersionId][token];
        return (uint128(packed), uint128(packed >> 128));
    }

    /// @inheritdoc IInferenceMarket
    function requestState(uint256 requestId) external view returns (RequestState memory state) {
        (state.status, state.deadline, state.claimExpiry, state.claimant, state.modelVersionId) =
            _unpack(_requests[requestId]);
    }

    /// @inheritdoc IInferenceMarket
    function requestIdOf(InferenceRequest calldata request) external pure returns (uint256) {
        return _hash(request);
    }

    /// @inheritdoc IInferenceMarket
    function params() external view returns (MarketParams memory) {
        return MarketParams({
            protocolFeeBps: _protocolFeeBps,
            claimWindow: _claimWindow,
            maxRequestLifetime: _maxRequestLifetime,
            refundGracePeriod: _refundGracePeriod,
            maxInlineInputBytes: _maxInlineInputBytes,
            callbackGasPriceWei: _callbackGasPriceWei,
            callbackGasPriceToken: _callbackGasPriceToken,
            lapseSlash: _lapseSlash
        });
    }

    /// @inheritdoc IInferenceMarket
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @notice The TesseraToken, the only accepted token besides ETH.
    function paymentToken() external view returns (address) {
        return address(_token);
    }

    /// @notice The WorkerRegistry.
    function workerRegistry() external view returns (address) {
        return address(_workers);
    }

    /// @notice The ModelRegistry.
    function modelRegistry() external view returns (address) {
        return address(_models);
    }

    // ---------------------------------------------------------------- internals

    function _terms(uint64 versionId) private view returns (uint16 royaltyBps, uint96 priceWei, uint96 priceToken) {
        address owner;
        bool active;
        (owner, priceWei, priceToken, royaltyBps, active) = _models.inferenceTerms(versionId);
        if (owner == address(0)) revert InferenceMarketUnknownModelVersion(versionId);
        if (!active) revert InferenceMarketModelVersionDeprecated(versionId);
    }

    function _open(RequestArgs calldata args, address currency, uint96 fee, uint16 royaltyBps)
        private
        returns (uint256 requestId)
    {
        uint256 latest = block.timestamp + _maxRequestLifetime;
        if (args.deadline <= block.timestamp || args.deadline > latest) {
            revert InferenceMarketInvalidDeadline(args.deadline, latest);
        }
        uint256 length = args.input.length;
        if (length == 0) revert InferenceMarketEmptyInput();
        uint256 maxLength = args.inputKind == InputKind.Inline ? _maxInlineInputBytes : MAX_CID_INPUT_BYTES;
        if (length > maxLength) revert InferenceMarketInputTooLarge(length, maxLength);
        uint16 protocolFeeBps = _protocolFeeBps;
        if (uint256(royaltyBps) + protocolFeeBps > _BPS) revert InferenceMarketSplitTooHigh(royaltyBps, protocolFeeBps);

        InferenceRequest memory request = InferenceRequest({
            requester: msg.sender,
            modelVersionId: args.modelVersionId,
            paymentToken: currency,
            fee: fee,
            deadline: args.deadline,
            callbackGasLimit: args.callbackGasLimit,
            royaltyBps: royaltyBps,
            protocolFeeBps: protocolFeeBps,
            salt: args.salt,
            inputHash: keccak256(args.input)
        });
        // A memory struct of static fields is laid out exactly as its ABI encoding (ten cleaned words).
        assembly ("memory-safe") {
            requestId := keccak256(request, 320)
        }
        if (_requests[requestId] != 0) revert InferenceMarketDuplicateRequest(requestId);
        _requests[requestId] = _pack(RequestStatus.Open, args.deadline, 0, address(0), args.modelVersionId);
        emit InferenceRequested(requestId, msg.sender, args.modelVersionId, request, args.inputKind, args.input);
    }

    /// @dev Checks that the caller holds the claim of an open request before its deadline, and deletes it.
    function _consume(InferenceRequest calldata request) private returns (uint256 requestId) {
        requestId = _hash(request);
        (RequestStatus status, uint32 deadline,, address claimant,) = _unpack(_requests[requestId]);
        if (status == RequestStatus.None) revert InferenceMarketRequestNotOpen(requestId);
        if (claimant != msg.sender) revert InferenceMarketNotClaimant(requestId, msg.sender, claimant);
        if (block.timestamp > deadline) revert InferenceMarketRequestExpired(requestId, deadline);
        delete _requests[requestId];
    }

    /// @return workerShare The claimant's credit.
    /// @return accrual royalty | protocolFee << 128, for `_accrued`.
    function _split(InferenceRequest calldata request) private pure returns (uint256 workerShare, uint256 accrual) {
        uint256 fee = request.fee;
        uint256 royalty = fee * request.royaltyBps / _BPS;
        uint256 protocolFee = fee * request.protocolFeeBps / _BPS;
        workerShare = fee - royalty - protocolFee;
        accrual = royalty | (protocolFee << 128);
    }

    /// @dev Calls the consumer with exactly `gasLimit` gas and copies no return data (returndata-bomb safe).
    function _callback(uint256 requestId, address consumer, uint256 gasLimit, bytes calldata output) private {
        bytes memory data = abi.encodeCall(IInferenceConsumer.onInferenceResult, (requestId, output));
        uint256 gasLeft = gasleft();
        // EIP-150 forwards at most 63/64 of what is left: demand enough that the consumer gets all of gasLimit.
        if (gasLeft < gasLimit + gasLimit / 63 + _CALLBACK_GAS_RESERVE) {
            revert InferenceMarketInsufficientGasForCallback(requestId, gasLeft, gasLimit);
        }
        bool success;
        assembly ("memory-safe") {
            success := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
        if (!success) emit InferenceCallbackFailed(requestId);
    }

    /// @dev One item of claimBatch: claims `requestId` if it is claimable by the caller, else does nothing.
    /// @return ok Whether it was claimed.
    /// @return nChecked The new size of the eligibility cache.
    /// @return lapsedClaimant The previous claimant whose claim lapsed, or address(0).
    function _tryClaim(uint256 requestId, uint32 expiry, uint256[] memory checked, uint256 nChecked_)
        private
        returns (bool ok, uint256 nChecked, address lapsedClaimant)
    {
        nChecked = nChecked_;
        (RequestStatus status, uint32 deadline, uint32 claimExpiry, address claimant, uint64 versionId) =
            _unpack(_requests[requestId]);
        if (status == RequestStatus.None || block.timestamp > deadline) return (false, nChecked, address(0));
        if (status == RequestStatus.Claimed && block.timestamp <= claimExpiry) return (false, nChecked, address(0));
        (ok, nChecked) = _eligibleCached(checked, nChecked, versionId);
        if (!ok) return (false, nChecked, address(0));
        _requests[requestId] = _pack(RequestStatus.Claimed, deadline, expiry, msg.sender, versionId);
        if (status == RequestStatus.Claimed) lapsedClaimant = claimant;
    }

    function _eligibleCached(uint256[] memory checked, uint256 nChecked, uint64 versionId)
        private
        view
        returns (bool eligible, uint256)
    {
        for (uint256 k; k < nChecked; ++k) {
            if (uint64(checked[k]) == versionId) return (checked[k] >> 64 != 0, nChecked);
        }
        eligible = _workers.isEligibleInferrer(msg.sender, versionId);
        checked[nChecked] = uint256(versionId) | (eligible ? 1 << 64 : 0);
        return (eligible, nChecked + 1);
    }

    function _slashLapsed(uint256 requestId, address claimant) private {
        uint96 amount = _lapseSlash;
        uint256 slashed = amount == 0 ? 0 : _workers.slash(claimant, amount, _treasury);
        emit ClaimLapsed(requestId, claimant, slashed);
    }

    function _hash(InferenceRequest calldata request) private pure returns (uint256 requestId) {
        // The static struct sits in calldata as its ten-word ABI encoding. A non-canonical encoding
        // hashes to an id that was never opened.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, request, 320)
            requestId := keccak256(ptr, 320)
        }
    }

    function _pack(RequestStatus status, uint32 deadline, uint32 claimExpiry, address claimant, uint64 versionId)
        private
        pure
        returns (uint256)
    {
        return uint256(status) | (uint256(deadline) << 8) | (uint256(claimExpiry) << 40)
            | (uint256(uint160(claimant)) << 72) | (uint256(versionId) << 232);
    }

    function _unpack(uint256 word)
        private
        pure
        returns (RequestStatus status, uint32 deadline, uint32 claimExpiry, address claimant, uint64 versionId)
    {
        status = RequestStatus(uint8(word));
        deadline = uint32(word >> 8);
        claimExpiry = uint32(word >> 40);
        claimant = address(uint160(word >> 72));
        versionId = uint64(word >> 232);
    }

    function _setParams(MarketParams memory p) private {
        if (
            p.protocolFeeBps > MAX_PROTOCOL_FEE_BPS || p.claimWindow == 0 || p.maxRequestLifetime == 0
                || p.maxInlineInputBytes == 0
                || uint256(p.maxRequestLifetime) + p.refundGracePeriod >= _workers.MIN_UNBONDING_DELAY()
        ) revert InferenceMarketInvalidParams();
        _protocolFeeBps = p.protocolFeeBps;
        _claimWindow = p.claimWindow;
        _maxRequestLifetime = p.maxRequestLifetime;
        _refundGracePeriod = p.refundGracePeriod;
        _maxInlineInputBytes = p.maxInlineInputBytes;
        _callbackGasPriceWei = p.callbackGasPriceWei;
        _callbackGasPriceToken = p.callbackGasPriceToken;
        _lapseSlash = p.lapseSlash;
        emit ParamsUpdated(p);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert InferenceMarketZeroAddress();
        _treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }
}
