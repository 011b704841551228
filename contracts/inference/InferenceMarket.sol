// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PermitPull} from "../libraries/PermitPull.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IShardRegistry, ShardStage} from "../interfaces/IShardRegistry.sol";
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
    RequestStatus,
    DeclineReason
} from "../types/InferenceTypes.sol";

/// @title InferenceMarket
/// @notice Escrowed, pay-per-request inference on registered model versions. See docs/inference-market.md.
/// @dev Each open request is one storage word:
/// `status (8) | deadline (32) | claimExpiry (32) | claimant (160) | modelVersionId (24)` (low to high bits).
/// The full terms (`InferenceRequest`) travel in events and calldata; their hash is the request id.
/// Version terms are pushed by the ModelRegistry and cached here (one word per version), so requesting never
/// calls the registry. A fulfilment writes one word: the fulfiller's earnings on (version, currency); `settle`
/// splits them into credits later.
contract InferenceMarket is IInferenceMarket, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role that tunes `MarketParams`.
    bytes32 public constant PARAMS_ROLE = keccak256("PARAMS_ROLE");
    /// @notice Role that pauses new requests.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Upper bound of `protocolFeeBps`.
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 2_000;
    /// @notice Longest accepted CID input.
    uint256 public constant MAX_CID_INPUT_BYTES = 64;
    /// @notice Largest accepted `callbackGasLimit`. A fulfil must forward it whole (plus 1/64 and a reserve), so a
    /// larger one could make a request no worker can serve: with the fulfil overhead (< 200k) it fits in a
    /// transaction under EIP-7825's 2^24 gas cap and in any block.
    uint32 public constant MAX_CALLBACK_GAS_LIMIT = 2_000_000;
    /// @dev Gas kept back, on top of the 1/64 rule, to pay for reaching the consumer and finishing.
    uint256 private constant _CALLBACK_GAS_RESERVE = 5_000;
    uint256 private constant _BPS = 10_000;
    /// @dev `_versionTerms` word: status (8) | royaltyBps (16) | priceWei (96) | priceToken (96) | inputElements (32),
    /// low to high.
    uint256 private constant _VERSION_ACTIVE = 1;
    uint256 private constant _VERSION_DEPRECATED = 2;
    /// @dev Or-ed into the status byte of a sharded version: its requests are fulfilled by `fulfillSharded` only.
    uint256 private constant _VERSION_SHARDED = 4;
    uint256 private constant _VERSION_STATUS_MASK = 3;
    /// @dev The request-word bits a claim keeps: deadline (8..39) and modelVersionId (232..255).
    uint256 private constant _KEEP_ON_CLAIM = (uint256(type(uint32).max) << 8) | (uint256(type(uint24).max) << 232);
    /// @dev Set in every written `_openClaims` word, so that the slot never returns to zero: a count going 0 -> 1
    /// then costs 2,900 gas instead of 20,000 (and no capped refund on the way back).
    uint256 private constant _CLAIMS_WRITTEN = 1 << 255;

    IERC20 private immutable _token;
    IWorkerRegistry private immutable _workers;
    IModelRegistry private immutable _models;
    /// @dev Immutable so that `claim` reads no parameter slot.
    uint32 private immutable _claimWindow;

    // Declared first so that they share a slot with Pausable's `_paused`: requestInference reads a single
    // parameter slot.
    uint16 private _protocolFeeBps;
    uint32 private _maxRequestLifetime;
    uint32 private _refundGracePeriod;
    uint32 private _maxInlineInputBytes;
    uint64 private _callbackGasPriceWei;
    uint96 private _callbackGasPriceToken;
    uint96 private _lapseSlash;
    address private _treasury;
    /// @dev Checks sharded versions' pipelines (set once by the admin; none = sharded requests cannot be fulfilled).
    IShardRegistry private _shardRegistry;

    /// @dev fulfillBatch's working memory: earnings summed per distinct (version, currency) key
    /// (`versionId | token << 64`), and, for optimistic items only, the eligibility cache
    /// (`versionId | eligible << 64`) and the lapsed claimants to slash (`index | claimant << 96`); the last version
    /// found not sharded.
    struct BatchBook {
        uint256 n;
        uint256[] keys;
        uint256[] sums;
        uint256 nKeys;
        uint256[] checked;
        uint256 nChecked;
        uint256[] lapsed;
        uint256 nLapsed;
        uint256 ownClaims;
        bool anyCallback;
        uint64 wholeModelVersion;
    }

    mapping(uint256 requestId => uint256 packed) private _requests;
    mapping(address account => mapping(address token => uint256)) private _credits;
    mapping(uint64 versionId => uint256 packed) private _versionTerms;
    /// @dev Unsettled earnings: summed fees (low 128 bits) | summed protocol fees (high 128 bits). Fees are uint96,
    /// so the low half cannot carry into the high one before 2^32 maximal fees accrue unsettled.
    mapping(address worker => mapping(uint64 versionId => mapping(address token => uint256 packed))) private _earned;
    /// @dev Claims a worker holds that are not yet fulfilled, refunded or taken over (low 128 bits) | _CLAIMS_WRITTEN.
    /// Bounded by `stake / lapseSlash` at claim time, so abandoning them all costs the full slashes.
    mapping(address worker => uint256 packed) private _openClaims;

    /// @param admin Receives DEFAULT_ADMIN_ROLE, PARAMS_ROLE and PAUSER_ROLE.
    /// @param token_ The TesseraToken (token payments, permit).
    /// @param workers_ The WorkerRegistry (this market needs its SLASHER_ROLE).
    /// @param models_ The ModelRegistry (it must then `setInferenceMarket(this)` before its first version).
    /// @param treasury_ Receiver of protocol fees and lapse slashes.
    /// @param claimWindow_ Seconds a claim is exclusive (immutable: `claim` reads no parameter slot).
    /// @param params_ Initial parameters.
    constructor(
        address admin,
        IERC20 token_,
        IWorkerRegistry workers_,
        IModelRegistry models_,
        address treasury_,
        uint32 claimWindow_,
        MarketParams memory params_
    ) {
        if (address(token_) == address(0) || address(workers_) == address(0) || address(models_) == address(0)) {
            revert InferenceMarketZeroAddress();
        }
        if (claimWindow_ == 0) revert InferenceMarketInvalidParams();
        _token = token_;
        _workers = workers_;
        _models = models_;
        _claimWindow = claimWindow_;
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
        uint256 terms = _requestTerms(args);
        uint256 minFee = uint96(terms >> 24) + uint256(args.callbackGasLimit) * _callbackGasPriceWei;
        if (msg.value < minFee) revert InferenceMarketFeeTooLow(msg.value, minFee);
        requestId = _open(args, address(0), uint96(msg.value), terms);
    }

    /// @inheritdoc IInferenceMarket
    function requestInferenceWithToken(RequestArgs calldata args, uint96 fee, PermitArgs calldata permit)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 requestId)
    {
        uint256 terms = _requestTerms(args);
        uint256 minFee = uint96(terms >> 120) + uint256(args.callbackGasLimit) * _callbackGasPriceToken;
        if (fee < minFee) revert InferenceMarketFeeTooLow(fee, minFee);
        requestId = _open(args, address(_token), fee, terms);
        PermitPull.pullWithPermit(_token, fee, permit);
    }

    // ---------------------------------------------------------------- claims

    /// @inheritdoc IInferenceMarket
    /// @dev Not pausable: a pause stops new requests, never the service of requests already paid for.
    function claim(uint256 requestId) external {
        uint256 word = _requests[requestId];
        (RequestStatus status, uint32 deadline, uint32 claimExpiry, address claimant, uint64 versionId) = _unpack(word);
        if (status == RequestStatus.None) revert InferenceMarketRequestNotOpen(requestId);
        if (block.timestamp > deadline) revert InferenceMarketRequestExpired(requestId, deadline);
        if (status == RequestStatus.Claimed && block.timestamp <= claimExpiry) {
            revert InferenceMarketAlreadyClaimed(requestId, claimant, claimExpiry);
        }
        uint256 stake = _workers.eligibleInferrerStake(msg.sender, versionId);
        if (stake == 0) revert InferenceMarketWorkerNotEligible(msg.sender, versionId);
        uint256 open = uint128(_openClaims[msg.sender]) + 1;
        if (open * _lapseSlash > stake) revert InferenceMarketClaimsExceedStake(msg.sender, open, stake);
        _openClaims[msg.sender] = open | _CLAIMS_WRITTEN;
        uint32 expiry = uint32(block.timestamp) + _claimWindow;
        _requests[requestId] = _pack(RequestStatus.Claimed, deadline, expiry, msg.sender, versionId);
        uint256[] memory ids = new uint256[](1);
        ids[0] = requestId;
        emit InferencesClaimed(msg.sender, expiry, ids);
        if (status == RequestStatus.Claimed) _slashLapsed(requestId, claimant);
    }

    /// @inheritdoc IInferenceMarket
    function claimBatch(uint256[] calldata requestIds) external returns (uint256 claimed) {
        uint256 n = requestIds.length;
        // The InferencesClaimed log data, built in place: expiry | 0x40 | count | ids (the claimed ids are written
        // straight into it, so the event needs no ABI re-encoding).
        uint256 logData;
        // What a claim writes over the word: status, claimExpiry and claimant (deadline and version are kept).
        uint256 claimBits;
        {
            uint32 expiry = uint32(block.timestamp) + _claimWindow;
            assembly ("memory-safe") {
                logData := mload(0x40)
                mstore(0x40, add(logData, add(0x60, shl(5, n))))
                mstore(logData, expiry)
                mstore(add(logData, 0x20), 0x40)
            }
            claimBits = uint256(RequestStatus.Claimed) | (uint256(expiry) << 40) | (uint256(uint160(msg.sender)) << 72);
        }
        // Lapsed claims taken over: index into requestIds | previous claimant << 96, slashed after the loop.
        uint256[] memory lapsed = new uint256[](n);
        uint256 nLapsed;
        // The caller's stake is asked once per distinct version (0 = not eligible): each entry is versionId | stake << 64.
        uint256[] memory checked = new uint256[](n);
        uint256 nChecked;
        // The previous item's version | (room + 1) << 64, or version alone when the caller is not eligible for it
        // (version ids start at 1). `room` is how many more claims the caller's stake covers, capped at n; the stake
        // is the worker's, so it is the same for every eligible version.
        uint256 last;

        for (uint256 i; i < n;) {
            (uint256 requestId, uint256 slot, uint256 word) = _loadRequest(requestIds, i);
            if (_claimable(word)) {
                // Batches are mostly of one version: the previous item's answer is reused without a lookup.
                if (word >> 232 != uint64(last)) {
                    uint256 stake;
                    (stake, nChecked) = _stakeCached(checked, nChecked, uint64(word >> 232));
                    last = (word >> 232) | (stake == 0 ? 0 : (_claimRoom(stake, n) + 1) << 64);
                }
                if (last >> 64 != 0) {
                    if (claimed + 1 == last >> 64) break; // the stake covers no more claims
                    uint256 claimedWord = (word & _KEEP_ON_CLAIM) | claimBits;
                    assembly ("memory-safe") {
                        sstore(slot, claimedWord)
                        mstore(add(add(logData, 0x60), shl(5, claimed)), requestId)
                    }
                    unchecked {
                        ++claimed;
                        if (uint8(word) == uint8(RequestStatus.Claimed)) {
                            lapsed[nLapsed++] = i | ((word >> 72) << 96);
                        }
                    }
                }
            }
            unchecked {
                ++i;
            }
        }
        if (claimed == 0) return 0;
        _openClaims[msg.sender] = (uint128(_openClaims[msg.sender]) + claimed) | _CLAIMS_WRITTEN;
        bytes32 topic0 = InferencesClaimed.selector;
        assembly ("memory-safe") {
            mstore(add(logData, 0x40), claimed)
            log2(logData, add(0x60, shl(5, claimed)), topic0, caller())
        }
        _slashAll(requestIds, lapsed, nLapsed);
    }

    // ---------------------------------------------------------------- fulfilment

    /// @inheritdoc IInferenceMarket
    function fulfill(InferenceRequest calldata request, OutputKind outputKind, bytes calldata output, bytes32 outputHash)
        external
        nonReentrant
    {
        (uint256 requestId, bool needsEligibility, address lapsedClaimant) = _consume(request);
        uint64 versionId = request.modelVersionId;
        _checkWholeModel(versionId);
        if (!needsEligibility) {
            --_openClaims[msg.sender];
        } else if (_workers.eligibleInferrerStake(msg.sender, versionId) == 0) {
            revert InferenceMarketWorkerNotEligible(msg.sender, versionId);
        }
        _earned[msg.sender][versionId][request.paymentToken] += _earning(request);
        _emitFulfilled(requestId, outputKind, outputHash, output);
        if (lapsedClaimant != address(0)) _slashLapsed(requestId, lapsedClaimant);
        if (request.callbackGasLimit != 0) {
            _callback(requestId, request.requester, request.callbackGasLimit, output);
        }
    }

    /// @inheritdoc IInferenceMarket
    function fulfillBatch(Fulfillment[] calldata items) external nonReentrant {
        uint256 n = items.length;
        BatchBook memory book;
        book.keys = new uint256[](n);
        book.sums = new uint256[](n);
        book.n = n;
        for (uint256 i; i < n;) {
            _fulfilItem(items, i, book);
            unchecked {
                ++i;
            }
        }
        for (uint256 k; k < book.nKeys;) {
            uint256 key = book.keys[k];
            _earned[msg.sender][uint64(key)][address(uint160(key >> 64))] += book.sums[k];
            unchecked {
                ++k;
            }
        }
        if (book.ownClaims != 0) _openClaims[msg.sender] -= book.ownClaims;
        for (uint256 j; j < book.nLapsed; ++j) {
            uint256 entry = book.lapsed[j];
            _slashLapsed(_hash(items[uint96(entry)].request), address(uint160(entry >> 96)));
        }
        if (!book.anyCallback) return;
        for (uint256 i; i < n; ++i) {
            InferenceRequest calldata request = items[i].request;
            if (request.callbackGasLimit == 0) continue;
            _callback(_hash(request), request.requester, request.callbackGasLimit, items[i].output);
        }
    }

    /// @inheritdoc IInferenceMarket
    /// @dev Checked before anything is paid: the output's hash, the request (open, claimed by the caller),
    /// then the pipeline (ShardRegistry). The fee is split at once: royalty to the version's owner, protocol fee to the
    /// treasury, the rest to the stages' hosts by their shards' cost weights (the last host takes the rounding).
    function fulfillSharded(Fulfillment calldata item, ShardStage[] calldata stages) external nonReentrant {
        IShardRegistry shards = _shardRegistry;
        if (address(shards) == address(0)) revert InferenceMarketNoShardRegistry();
        InferenceRequest calldata request = item.request;
        // The answer delivered (inline bytes or a CID's bytes) is the one the last host signed.
        if (keccak256(item.output) != item.outputHash) {
            revert InferenceMarketOutputHashMismatch(keccak256(item.output), item.outputHash);
        }
        (uint256 requestId, bool needsEligibility,) = _consume(request);
        // Only the claimant: a public pipeline could otherwise be re-signed by anyone's Sybil hosts and front-run.
        if (needsEligibility) revert InferenceMarketShardedNeedsClaim(requestId);
        --_openClaims[msg.sender];
        (address[] memory hosts, uint32[] memory costWeights) =
            shards.verifyPipeline(requestId, request.modelVersionId, request.inputHash, item.outputHash, stages);
        _payPipeline(request, requestId, hosts, costWeights);
        _emitFulfilled(requestId, item.outputKind, item.outputHash, item.output);
        if (request.callbackGasLimit != 0) {
            _callback(requestId, request.requester, request.callbackGasLimit, item.output);
        }
    }

    /// @dev Credits a sharded request's fee: the royalty and protocol fee as `settle` computes them for one request,
    /// the rest to the hosts in proportion to their shards' cost weights.
    function _payPipeline(
        InferenceRequest calldata request,
        uint256 requestId,
        address[] memory hosts,
        uint32[] memory costWeights
    ) private {
        address token = request.paymentToken;
        uint256 fee = request.fee;
        uint256 royalty = fee * request.royaltyBps / _BPS;
        uint256 protocolFee = fee * request.protocolFeeBps / _BPS;
        (address owner,,,,) = _models.inferenceTerms(request.modelVersionId);
        if (royalty != 0) _credits[owner][token] += royalty;
        if (protocolFee != 0) _credits[_treasury][token] += protocolFee;
        uint256[] memory amounts = _hostShares(fee - royalty - protocolFee, costWeights);
        for (uint256 i; i < amounts.length; ++i) {
            if (amounts[i] != 0) _credits[hosts[i]][token] += amounts[i];
        }
        emit ShardedFulfilmentPaid(requestId, token, owner, royalty, protocolFee, hosts, amounts);
    }

    /// @dev `pool` split by `costWeights` (each rounded down; the last share takes the rest, so the shares sum to it).
    function _hostShares(uint256 pool, uint32[] memory costWeights) private pure returns (uint256[] memory amounts) {
        uint256 n = costWeights.length;
        uint256 totalWeight;
        for (uint256 i; i < n; ++i) {
            totalWeight += costWeights[i];
        }
        amounts = new uint256[](n);
        uint256 paid;
        for (uint256 i; i + 1 < n; ++i) {
            amounts[i] = pool * costWeights[i] / totalWeight;
            paid += amounts[i];
        }
        amounts[n - 1] = pool - paid;
    }

    /// @dev A sharded version's requests carry the pipeline's signed chain: only `fulfillSharded` takes them.
    function _checkWholeModel(uint64 versionId) private view {
        if (_versionTerms[versionId] & _VERSION_SHARDED != 0) revert InferenceMarketShardedVersion(versionId);
    }

    /// @dev One item of fulfillBatch: consumes the request, books its earning under its (version, currency) key.
    /// @dev Fields are located by hand (the static request is inline at the item's start; `outputKind`, the output's
    /// offset and `outputHash` follow it): this skips the ABI decoder's per-field offset checks. Malformed offsets can
    /// only make the caller hash terms that are not open (revert) or publish its own garbage output.
    function _fulfilItem(Fulfillment[] calldata items, uint256 i, BatchBook memory book) private {
        InferenceRequest calldata request;
        uint256 kind;
        bytes32 outputHash;
        bytes calldata output;
        assembly ("memory-safe") {
            let item := add(items.offset, calldataload(add(items.offset, shl(5, i))))
            request := item
            kind := calldataload(add(item, 0x140))
            let o := add(item, calldataload(add(item, 0x160)))
            outputHash := calldataload(add(item, 0x180))
            output.length := calldataload(o)
            output.offset := add(o, 0x20)
        }
        (uint256 requestId, bool needsEligibility, address lapsedClaimant) = _consume(request);
        // The ten words hashed to an open id, so they are the canonical (clean) encoding: read them raw.
        uint64 versionId;
        uint256 key;
        uint256 earning;
        uint256 callbackGasLimit;
        assembly ("memory-safe") {
            versionId := calldataload(add(request, 0x20))
            key := or(versionId, shl(64, calldataload(add(request, 0x40))))
            let fee := calldataload(add(request, 0x60))
            earning := or(fee, shl(128, div(mul(fee, calldataload(add(request, 0xe0))), 10000)))
            callbackGasLimit := calldataload(add(request, 0xa0))
        }
        // Batches are mostly of one version: it is checked once, not per item.
        if (versionId != book.wholeModelVersion) {
            _checkWholeModel(versionId);
            book.wholeModelVersion = versionId;
        }
        if (callbackGasLimit != 0) book.anyCallback = true;
        if (needsEligibility) _bookOptimistic(book, i, versionId, lapsedClaimant);
        else ++book.ownClaims;
        _addEarning(book, key, earning);
        _emitFulfilled(requestId, OutputKind(kind), outputHash, output);
    }

    /// @dev An item fulfilled without the claim: the caller must be eligible (asked once per version); a lapsed
    /// claimant is recorded for slashing after the loop.
    function _bookOptimistic(BatchBook memory book, uint256 i, uint64 versionId, address lapsedClaimant) private view {
        if (book.checked.length == 0) {
            book.checked = new uint256[](book.n);
            book.lapsed = new uint256[](book.n);
        }
        uint256 stake;
        (stake, book.nChecked) = _stakeCached(book.checked, book.nChecked, versionId);
        if (stake == 0) revert InferenceMarketWorkerNotEligible(msg.sender, versionId);
        if (lapsedClaimant != address(0)) book.lapsed[book.nLapsed++] = i | (uint256(uint160(lapsedClaimant)) << 96);
    }

    /// @dev Adds `earning` to the sum of `key`, appending the key if new. Unchecked indexing is safe: each item adds
    /// at most one key and both arrays have one slot per item. Each half of a sum is a sum of uint96 amounts over one
    /// batch: it cannot carry into the other.
    function _addEarning(BatchBook memory book, uint256 key, uint256 earning) private pure {
        uint256[] memory keys = book.keys;
        uint256[] memory sums = book.sums;
        uint256 nKeys = book.nKeys;
        assembly ("memory-safe") {
            let k := 0
            for {} and(lt(k, nKeys), iszero(eq(mload(add(keys, shl(5, add(k, 1)))), key))) {} { k := add(k, 1) }
            if eq(k, nKeys) {
                mstore(add(keys, shl(5, add(k, 1))), key)
                nKeys := add(nKeys, 1)
            }
            let p := add(sums, shl(5, add(k, 1)))
            mstore(p, add(mload(p), earning))
        }
        book.nKeys = nKeys;
    }

    /// @inheritdoc IInferenceMarket
    /// @dev Event only: declining changes no state, so it can neither cancel nor delay anyone's request.
    function decline(uint256[] calldata requestIds, DeclineReason[] calldata reasons) external returns (uint256 declined) {
        uint256 n = requestIds.length;
        if (reasons.length != n) revert InferenceMarketInvalidDecline();
        uint256[] memory checked = new uint256[](n);
        uint256 nChecked;
        for (uint256 i; i < n; ++i) {
            DeclineReason reason = reasons[i];
            if (reason == DeclineReason.None) revert InferenceMarketInvalidDecline();
            (uint256 requestId,, uint256 word) = _loadRequest(requestIds, i);
            if (uint8(word) == uint8(RequestStatus.None) || block.timestamp > uint32(word >> 8)) continue;
            uint256 stake;
            (stake, nChecked) = _stakeCached(checked, nChecked, uint64(word >> 232));
            if (stake == 0) continue;
            emit InferenceDeclined(requestId, msg.sender, reason);
            ++declined;
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
    /// @dev The royalty is rounded down once over the summed fees, so it can exceed the sum of per-request
    /// roundings by less than 1 wei per request settled (in the owner's favour, from the worker's share). The
    /// worker share cannot underflow: every request was opened with royaltyBps + protocolFeeBps <= 10_000, and a
    /// version's royaltyBps never changes (ModelRegistry), so royalty + protocolFees <= fees.
    function settle(address worker, uint64[] calldata modelVersionIds, address token) external nonReentrant {
        uint256 workerTotal;
        uint256 protocolTotal;
        for (uint256 i; i < modelVersionIds.length; ++i) {
            uint64 versionId = modelVersionIds[i];
            uint256 packed = _earned[worker][versionId][token];
            if (packed == 0) continue;
            delete _earned[worker][versionId][token];
            uint256 fees = uint128(packed);
            uint256 protocolFees = packed >> 128;
            uint256 royalty = fees * uint16(_versionTerms[versionId] >> 8) / _BPS;
            uint256 workerShare = fees - royalty - protocolFees;
            (address owner,,,,) = _models.inferenceTerms(versionId);
            if (royalty != 0) _credits[owner][token] += royalty;
            workerTotal += workerShare;
            protocolTotal += protocolFees;
            emit EarningsSettled(worker, versionId, token, owner, workerShare, royalty, protocolFees);
        }
        if (workerTotal != 0) _credits[worker][token] += workerTotal;
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

    // ---------------------------------------------------------------- registry push, admin

    /// @inheritdoc IInferenceMarket
    function onVersionTermsUpdated(
        uint64 modelVersionId,
        uint96 priceWei,
        uint96 priceToken,
        uint16 royaltyBps,
        uint32 inputElements,
        bool active,
        bool sharded
    ) external {
        if (msg.sender != address(_models)) revert InferenceMarketNotModelRegistry(msg.sender);
        _versionTerms[modelVersionId] = (active ? _VERSION_ACTIVE : _VERSION_DEPRECATED)
            | (sharded ? _VERSION_SHARDED : 0) | (uint256(royaltyBps) << 8)
            | (uint256(priceWei) << 24) | (uint256(priceToken) << 120) | (uint256(inputElements) << 216);
    }

    /// @inheritdoc IInferenceMarket
    function setShardRegistry(IShardRegistry shardRegistry_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(shardRegistry_) == address(0)) revert InferenceMarketZeroAddress();
        if (address(_shardRegistry) != address(0)) revert InferenceMarketShardRegistryAlreadySet(address(_shardRegistry));
        // A withdrawn host's signatures must outlive every request it may have signed for.
        if (shardRegistry_.releaseDelay() < _maxRequestLifetime) revert InferenceMarketInvalidParams();
        _shardRegistry = shardRegistry_;
        emit ShardRegistrySet(address(shardRegistry_));
    }

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

    /// @notice Stops new requests. Claims, fulfil, refund, settle and withdraw keep working: requests already
    /// paid for keep being served and no funds can be locked by a pause.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes new requests.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IInferenceMarket
    function creditOf(address account, address token) external view returns (uint256) {
        return _credits[account][token];
    }

    /// @inheritdoc IInferenceMarket
    function earnedOf(address worker, uint64 modelVersionId, address token)
        external
        view
        returns (uint128 fees, uint128 protocolFees)
    {
        uint256 packed = _earned[worker][modelVersionId][token];
        return (uint128(packed), uint128(packed >> 128));
    }

    /// @inheritdoc IInferenceMarket
    function versionTerms(uint64 modelVersionId)
        external
        view
        returns (bool known, bool active, uint96 priceWei, uint96 priceToken, uint16 royaltyBps, uint32 inputElements)
    {
        uint256 word = _versionTerms[modelVersionId];
        return (
            word != 0,
            word & _VERSION_STATUS_MASK == _VERSION_ACTIVE,
            uint96(word >> 24),
            uint96(word >> 120),
            uint16(word >> 8),
            uint32(word >> 216)
        );
    }

    /// @inheritdoc IInferenceMarket
    function openClaimsOf(address worker) external view returns (uint256) {
        return uint128(_openClaims[worker]);
    }

    /// @inheritdoc IInferenceMarket
    function claimWindow() external view returns (uint32) {
        return _claimWindow;
    }

    /// @inheritdoc IInferenceMarket
    function requestState(uint256 requestId) external view returns (RequestState memory state) {
        (state.status, state.deadline, state.claimExpiry, state.claimant, state.modelVersionId) =
            _unpack(_requests[requestId]);
    }

    /// @inheritdoc IInferenceMarket
    function requestStates(uint256[] calldata requestIds) external view returns (RequestState[] memory states) {
        uint256 n = requestIds.length;
        states = new RequestState[](n);
        for (uint256 i; i < n;) {
            RequestState memory state = states[i];
            (state.status, state.deadline, state.claimExpiry, state.claimant, state.modelVersionId) =
                _unpack(_requests[requestIds[i]]);
            unchecked {
                ++i;
            }
        }
    }

    /// @inheritdoc IInferenceMarket
    function requestIdOf(InferenceRequest calldata request) external pure returns (uint256) {
        return _hash(request);
    }

    /// @inheritdoc IInferenceMarket
    function params() external view returns (MarketParams memory) {
        return MarketParams({
            protocolFeeBps: _protocolFeeBps,
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

    /// @inheritdoc IInferenceMarket
    function shardRegistry() external view returns (address) {
        return address(_shardRegistry);
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

    /// @dev The cached terms word of a version that can be requested with a callback gas limit a fulfilment can
    /// carry; precise errors otherwise.
    function _requestTerms(RequestArgs calldata args) private view returns (uint256 terms) {
        if (args.callbackGasLimit > MAX_CALLBACK_GAS_LIMIT) {
            revert InferenceMarketCallbackGasTooHigh(args.callbackGasLimit, MAX_CALLBACK_GAS_LIMIT);
        }
        uint64 versionId = args.modelVersionId;
        terms = _versionTerms[versionId];
        if (terms & _VERSION_STATUS_MASK != _VERSION_ACTIVE) {
            if (terms == 0) revert InferenceMarketUnknownModelVersion(versionId);
            revert InferenceMarketModelVersionDeprecated(versionId);
        }
    }

    function _open(RequestArgs calldata args, address currency, uint96 fee, uint256 terms)
        private
        returns (uint256 requestId)
    {
        uint16 royaltyBps = uint16(terms >> 8);
        uint256 latest = block.timestamp + _maxRequestLifetime;
        if (args.deadline <= block.timestamp || args.deadline > latest) {
            revert InferenceMarketInvalidDeadline(args.deadline, latest);
        }
        uint256 length = args.input.length;
        if (length == 0) revert InferenceMarketEmptyInput();
        if (args.inputKind == InputKind.Inline) {
            if (length > _maxInlineInputBytes) revert InferenceMarketInputTooLarge(length, _maxInlineInputBytes);
            _checkInputSize(length, uint32(terms >> 216));
        } else {
            if (length > MAX_CID_INPUT_BYTES) revert InferenceMarketInputTooLarge(length, MAX_CID_INPUT_BYTES);
            _checkCid(args.input);
        }
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
        emit InferenceRequested(requestId, msg.sender, request, args.inputKind, args.input);
    }

    /// @dev Checks that the caller may fulfil an open request before its deadline, and deletes it. The claimant
    /// always may (even after its window lapsed); anyone else only if the request is unclaimed or its claim lapsed,
    /// and then the caller must be eligible (`needsEligibility`; checked by the caller of this function).
    /// @return requestId The request's id.
    /// @return needsEligibility Whether the caller fulfils without holding the claim.
    /// @return lapsedClaimant The claimant whose lapsed claim the caller took over (to slash), or address(0).
    function _consume(InferenceRequest calldata request)
        private
        returns (uint256 requestId, bool needsEligibility, address lapsedClaimant)
    {
        uint256 slot;
        uint256 word;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, request, 320)
            requestId := keccak256(ptr, 320)
            mstore(0x00, requestId)
            mstore(0x20, _requests.slot)
            slot := keccak256(0x00, 0x40)
            word := sload(slot)
        }
        if (uint8(word) == uint8(RequestStatus.None)) revert InferenceMarketRequestNotOpen(requestId);
        address claimant = address(uint160(word >> 72));
        if (claimant != msg.sender) {
            uint32 claimExpiry = uint32(word >> 40);
            if (block.timestamp <= claimExpiry) revert InferenceMarketNotClaimant(requestId, msg.sender, claimant);
            needsEligibility = true;
            lapsedClaimant = claimant;
        }
        uint32 deadline = uint32(word >> 8);
        if (block.timestamp > deadline) revert InferenceMarketRequestExpired(requestId, deadline);
        assembly ("memory-safe") {
            sstore(slot, 0)
        }
    }

    /// @dev An inline input must be `elements` values of 1, 2, 4 or 8 bytes each (uint8 ... float64) when the
    /// version declares its input shape (`elements != 0`): any other length can never be served.
    function _checkInputSize(uint256 length, uint256 elements) private pure {
        if (
            elements != 0 && length != elements && length != elements << 1 && length != elements << 2
                && length != elements << 3
        ) revert InferenceMarketInputSizeMismatch(length, elements);
    }

    /// @dev A CIDv1 starts with its version byte 0x01; a CIDv0 is a bare 34-byte sha2-256 multihash (0x12 0x20 ...).
    function _checkCid(bytes calldata cid) private pure {
        if (cid[0] != 0x01 && (cid.length != 34 || cid[0] != 0x12 || cid[1] != 0x20)) revert InferenceMarketMalformedCid();
    }

    /// @dev How many more claims `stake` covers on top of the caller's open ones at `lapseSlash` each (every one
    /// when it is zero), capped at `max`.
    function _claimRoom(uint256 stake, uint256 max) private view returns (uint256 room) {
        uint256 slash = _lapseSlash;
        if (slash == 0) return max;
        uint256 open = uint128(_openClaims[msg.sender]);
        uint256 cap = stake / slash;
        room = cap > open ? cap - open : 0;
        if (room > max) room = max;
    }

    /// @return fee | protocolFee << 128, the request's addition to `_earned`.
    function _earning(InferenceRequest calldata request) private pure returns (uint256) {
        uint256 fee = request.fee;
        return fee | ((fee * request.protocolFeeBps / _BPS) << 128);
    }

    /// @dev `emit InferenceFulfilled(requestId, msg.sender, outputKind, outputHash, output)`, encoded by hand: the
    /// output is copied once from calldata into the log data (the ABI encoder copies it twice in a loop).
    function _emitFulfilled(uint256 requestId, OutputKind outputKind, bytes32 outputHash, bytes calldata output)
        private
    {
        bytes32 topic0 = InferenceFulfilled.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, caller())
            mstore(add(ptr, 0x20), outputKind)
            mstore(add(ptr, 0x40), outputHash)
            mstore(add(ptr, 0x60), 0x80)
            mstore(add(ptr, 0x80), output.length)
            let end := add(add(ptr, 0xa0), output.length)
            mstore(end, 0) // zero padding of the last word
            calldatacopy(add(ptr, 0xa0), output.offset, output.length)
            log2(ptr, add(0xa0, and(add(output.length, 31), not(31))), topic0, requestId)
        }
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

    /// @dev The id at `requestIds[i]`, its storage slot in `_requests` and the word stored there.
    function _loadRequest(uint256[] calldata requestIds, uint256 i)
        private
        view
        returns (uint256 requestId, uint256 slot, uint256 word)
    {
        assembly ("memory-safe") {
            requestId := calldataload(add(requestIds.offset, shl(5, i)))
            mstore(0x00, requestId)
            mstore(0x20, _requests.slot)
            slot := keccak256(0x00, 0x40)
            word := sload(slot)
        }
    }

    /// @dev Open, or Claimed with a lapsed window, and not past its deadline.
    function _claimable(uint256 word) private view returns (bool) {
        uint256 status = uint8(word);
        if (status == uint8(RequestStatus.None) || block.timestamp > uint32(word >> 8)) return false;
        return status == uint8(RequestStatus.Open) || block.timestamp > uint32(word >> 40);
    }

    /// @dev The caller's `eligibleInferrerStake` for a version (0 = not eligible), asked once per distinct version.
    function _stakeCached(uint256[] memory checked, uint256 nChecked, uint64 versionId)
        private
        view
        returns (uint256 stake, uint256)
    {
        bool found;
        assembly ("memory-safe") {
            for { let k := 0 } lt(k, nChecked) { k := add(k, 1) } {
                let entry := mload(add(checked, shl(5, add(k, 1))))
                if eq(and(entry, 0xffffffffffffffff), versionId) {
                    found := 1
                    stake := shr(64, entry)
                    break
                }
            }
        }
        if (found) return (stake, nChecked);
        stake = _workers.eligibleInferrerStake(msg.sender, versionId);
        checked[nChecked] = uint256(versionId) | (stake << 64);
        return (stake, nChecked + 1);
    }

    /// @dev Slashes the lapsed claimants recorded by claimBatch (index | claimant << 96).
    function _slashAll(uint256[] calldata requestIds, uint256[] memory lapsed, uint256 nLapsed) private {
        for (uint256 j; j < nLapsed; ++j) {
            _slashLapsed(requestIds[uint96(lapsed[j])], address(uint160(lapsed[j] >> 96)));
        }
    }

    /// @dev Settles a claim that lapsed (taken over, or refunded unfulfilled): releases it and slashes the claimant.
    function _slashLapsed(uint256 requestId, address claimant) private {
        --_openClaims[claimant];
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
            p.protocolFeeBps > MAX_PROTOCOL_FEE_BPS || p.maxRequestLifetime == 0 || p.maxInlineInputBytes == 0
                || uint256(p.maxRequestLifetime) + p.refundGracePeriod >= _workers.MIN_UNBONDING_DELAY()
        ) revert InferenceMarketInvalidParams();
        IShardRegistry shards = _shardRegistry;
        if (address(shards) != address(0) && p.maxRequestLifetime > shards.releaseDelay()) {
            revert InferenceMarketInvalidParams();
        }
        _protocolFeeBps = p.protocolFeeBps;
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
