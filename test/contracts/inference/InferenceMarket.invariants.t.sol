// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InferenceMarketBase} from "./InferenceMarketBase.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";
import {InferenceMarket} from "../../../contracts/inference/InferenceMarket.sol";
import {WorkerRegistry} from "../../../contracts/workers/WorkerRegistry.sol";
import {IInferenceMarket} from "../../../contracts/interfaces/IInferenceMarket.sol";
import {ModelRegistry} from "../../../contracts/models/ModelRegistry.sol";
import {ShardRegistry} from "../../../contracts/models/ShardRegistry.sol";
import {ShardStage} from "../../../contracts/interfaces/IShardRegistry.sol";
import {
    InferenceRequest,
    RequestArgs,
    RequestState,
    RequestStatus,
    PermitArgs,
    InputKind,
    OutputKind,
    Fulfillment,
    MarketParams
} from "../../../contracts/types/InferenceTypes.sol";


/// @notice Drives the market with random requests, claims, fulfilments (claimed and optimistic), refunds,
/// settlements and withdrawals, and keeps ghost books of what every account should be owed.
contract InferenceMarketHandler is CommonBase, StdCheats, StdUtils {
    InferenceMarket internal immutable market;
    WorkerRegistry internal immutable workers;
    TesseraToken internal immutable token;
    address internal immutable treasury;
    address internal immutable modelOwner;

    address[] internal requesters;
    address[] internal claimers;
    address[] public accounts; // every account that can hold credit
    uint64[] public versionIds;
    /// @dev The sharded version among versionIds (fulfilled by fulfillSharded only), its hosts and their keys.
    uint64 internal shardedVersion;
    address[] internal hosts;
    uint256[] internal hostKeys;
    ShardRegistry internal shardRegistry;
    InferenceRequest[] internal open; // requests not yet settled
    uint64 internal salt;

    // Ghost books, per currency index (0 = ETH, 1 = token).
    uint256[2] public ghostEscrow;
    mapping(uint256 => mapping(address => uint256)) public ghostCredit;
    mapping(uint256 => mapping(address => uint256)) public ghostWithdrawn;
    mapping(uint256 => mapping(address => uint256)) public ghostEarned;
    /// @dev Unsettled earnings per currency, worker, version: summed fees and summed protocol fees.
    mapping(uint256 => mapping(address => mapping(uint64 => uint256))) public ghostFees;
    mapping(uint256 => mapping(address => mapping(uint64 => uint256))) public ghostProtocolFees;
    uint256 public calls;
    uint256 public fulfilled;
    uint256 public refunded;
    uint256 public withdrawals;

    constructor(
        InferenceMarket market_,
        TesseraToken token_,
        address treasury_,
        address modelOwner_,
        address[] memory claimers_,
        uint64[] memory versionIds_
    ) {
        market = market_;
        workers = WorkerRegistry(market_.workerRegistry());
        token = token_;
        treasury = treasury_;
        modelOwner = modelOwner_;
        claimers = claimers_;
        versionIds = versionIds_;
        requesters.push(makeAddr("requester0"));
        requesters.push(makeAddr("requester1"));
        requesters.push(makeAddr("requester2"));
        for (uint256 i; i < requesters.length; ++i) accounts.push(requesters[i]);
        for (uint256 i; i < claimers.length; ++i) accounts.push(claimers[i]);
        accounts.push(treasury_);
        accounts.push(modelOwner_);
    }

    /// @dev The sharded version and the hosts (one per shard, in order) that announced its shards.
    function setSharded(uint64 versionId, uint256[] memory keys) external {
        if (shardedVersion != 0) return; // once, by the test's setUp (the fuzzer calls it too)
        shardedVersion = versionId;
        shardRegistry = ShardRegistry(market.shardRegistry());
        for (uint256 i; i < keys.length; ++i) {
            hostKeys.push(keys[i]);
            hosts.push(vm.addr(keys[i]));
            accounts.push(vm.addr(keys[i]));
        }
    }

    function accountCount() external view returns (uint256) {
        return accounts.length;
    }

    function versionCount() external view returns (uint256) {
        return versionIds.length;
    }

    function request(uint256 actorSeed, uint256 versionSeed, uint96 fee, bool inToken, uint32 lifetime) external {
        ++calls;
        address requester = requesters[actorSeed % requesters.length];
        uint64 versionId = versionIds[versionSeed % versionIds.length];
        fee = uint96(bound(fee, inToken ? 1e18 : 1e15, 1e27));
        RequestArgs memory a = RequestArgs({
            modelVersionId: versionId,
            deadline: uint32(block.timestamp + bound(lifetime, 1, 1 days)),
            callbackGasLimit: 0,
            salt: ++salt,
            inputKind: InputKind.Inline,
            input: hex"00010203040506070809" // the versions' declared input: 10 values of one byte
        });
        if (inToken) {
            token.mint(requester, fee);
            vm.startPrank(requester);
            token.approve(address(market), fee);
            PermitArgs memory none;
            market.requestInferenceWithToken(a, fee, none);
            vm.stopPrank();
        } else {
            vm.deal(requester, fee);
            vm.prank(requester);
            market.requestInference{value: fee}(a);
        }
        (,,, uint16 royaltyBps,) = _terms(versionId);
        open.push(
            InferenceRequest({
                requester: requester,
                modelVersionId: versionId,
                paymentToken: inToken ? address(token) : address(0),
                fee: fee,
                deadline: a.deadline,
                callbackGasLimit: 0,
                royaltyBps: royaltyBps,
                protocolFeeBps: market.params().protocolFeeBps,
                salt: a.salt,
                inputHash: keccak256(a.input)
            })
        );
        ghostEscrow[inToken ? 1 : 0] += fee;
    }

    function claim(uint256 indexSeed, uint256 claimerSeed) external {
        ++calls;
        if (open.length == 0) return;
        uint256 id = market.requestIdOf(open[indexSeed % open.length]);
        RequestState memory s = market.requestState(id);
        if (block.timestamp > s.deadline) return;
        if (s.status == RequestStatus.Claimed && block.timestamp <= s.claimExpiry) return;
        address claimer = claimers[claimerSeed % claimers.length];
        uint256 stake = workers.eligibleInferrerStake(claimer, s.modelVersionId);
        if (stake == 0) return;
        if ((market.openClaimsOf(claimer) + 1) * market.params().lapseSlash > stake) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IInferenceMarket.InferenceMarketClaimsExceedStake.selector,
                    claimer,
                    market.openClaimsOf(claimer) + 1,
                    stake
                )
            );
        }
        vm.prank(claimer);
        market.claim(id);
    }

    function claimBatch(uint256 claimerSeed) external {
        ++calls;
        uint256[] memory ids = new uint256[](open.length);
        for (uint256 i; i < open.length; ++i) ids[i] = market.requestIdOf(open[i]);
        vm.prank(claimers[claimerSeed % claimers.length]);
        market.claimBatch(ids);
    }

    /// @dev By the claimant while its claim is exclusive; otherwise optimistically by a random worker.
    function fulfill(uint256 indexSeed, uint256 claimerSeed) external {
        ++calls;
        if (open.length == 0) return;
        uint256 index = indexSeed % open.length;
        InferenceRequest memory r = open[index];
        if (r.modelVersionId == shardedVersion) {
            fulfillSharded(index, claimerSeed);
            return;
        }
        RequestState memory s = market.requestState(market.requestIdOf(r));
        if (block.timestamp > r.deadline) return;
        bool exclusive = s.status == RequestStatus.Claimed && block.timestamp <= s.claimExpiry;
        address fulfiller = exclusive ? s.claimant : claimers[claimerSeed % claimers.length];
        if (fulfiller != s.claimant && workers.eligibleInferrerStake(fulfiller, r.modelVersionId) == 0) return;
        vm.prank(fulfiller);
        market.fulfill(r, OutputKind.Inline, hex"07", bytes32(0));
        uint256 c = _currency(r);
        ghostFees[c][fulfiller][r.modelVersionId] += r.fee;
        ghostProtocolFees[c][fulfiller][r.modelVersionId] += uint256(r.fee) * r.protocolFeeBps / 10_000;
        ghostEscrow[c] -= r.fee;
        _remove(index);
        ++fulfilled;
    }

    /// @dev One worker fulfils, in one batch, every open request it may fulfil (its own claims and, optimistically,
    /// unclaimed or lapsed ones), up to `maxItems`.
    function fulfillBatch(uint256 claimerSeed, uint8 maxItems) external {
        ++calls;
        address fulfiller = claimers[claimerSeed % claimers.length];
        bool eligible = workers.eligibleInferrerStake(fulfiller, versionIds[0]) != 0; // the same stake for every version
        uint256 limit = bound(maxItems, 1, 8);
        Fulfillment[] memory items = new Fulfillment[](limit);
        uint256[] memory picked = new uint256[](limit);
        uint256 count;
        for (uint256 i; i < open.length && count < limit; ++i) {
            InferenceRequest memory r = open[i];
            if (r.modelVersionId == shardedVersion) continue;
            RequestState memory s = market.requestState(market.requestIdOf(r));
            if (block.timestamp > r.deadline) continue;
            if (s.status == RequestStatus.Claimed && block.timestamp <= s.claimExpiry && s.claimant != fulfiller) continue;
            if (s.claimant != fulfiller && !eligible) continue;
            items[count] = Fulfillment({request: r, outputKind: OutputKind.Inline, output: hex"07", outputHash: bytes32(0)});
            picked[count++] = i;
        }
        if (count == 0) return;
        assembly ("memory-safe") {
            mstore(items, count)
        }
        vm.prank(fulfiller);
        market.fulfillBatch(items);
        for (uint256 j = count; j > 0; --j) {
            uint256 index = picked[j - 1]; // descending, so that _remove does not move a picked one
            InferenceRequest memory r = open[index];
            uint256 c = _currency(r);
            ghostFees[c][fulfiller][r.modelVersionId] += r.fee;
            ghostProtocolFees[c][fulfiller][r.modelVersionId] += uint256(r.fee) * r.protocolFeeBps / 10_000;
            ghostEscrow[c] -= r.fee;
            _remove(index);
            ++fulfilled;
        }
    }

    /// @dev A request on the sharded version, fulfilled with a pipeline signed by its hosts: the fee is credited at
    /// once to the owner (royalty), the treasury (protocol fee) and the hosts by cost weight (the last takes the rest).
    function fulfillSharded(uint256 indexSeed, uint256 claimerSeed) public {
        ++calls;
        if (open.length == 0 || shardedVersion == 0) return;
        uint256 index = indexSeed % open.length;
        for (uint256 k; k < open.length && open[index].modelVersionId != shardedVersion; ++k) {
            index = (index + 1) % open.length;
        }
        InferenceRequest memory r = open[index];
        if (r.modelVersionId != shardedVersion || block.timestamp > r.deadline) return;
        uint256 requestId = market.requestIdOf(r);
        RequestState memory s = market.requestState(requestId);
        // Only the claimant fulfils a sharded request (its claim may have lapsed: it still may).
        if (s.status != RequestStatus.Claimed) return;
        address fulfiller = s.claimant;
        claimerSeed;
        ShardStage[] memory stages = _stages(requestId, r);
        vm.prank(fulfiller);
        market.fulfillSharded(
            Fulfillment({request: r, outputKind: OutputKind.Inline, output: hex"07", outputHash: keccak256(hex"07")}), stages
        );
        _bookSharded(r);
        _remove(index);
        ++fulfilled;
    }

    /// @dev The hosts' signed stages: made-up activation hashes chained from the request's input to the answer's.
    function _stages(uint256 requestId, InferenceRequest memory r) internal returns (ShardStage[] memory stages) {
        stages = new ShardStage[](hosts.length);
        bytes32 input = r.inputHash;
        for (uint256 i; i < hosts.length; ++i) {
            bytes32 output = i + 1 == hosts.length ? keccak256(hex"07") : keccak256(abi.encode(requestId, i));
            bytes32 digest = shardRegistry.stageDigest(requestId, r.modelVersionId, uint16(i), input, output);
            (uint8 v, bytes32 rr, bytes32 ss) = vm.sign(hostKeys[i], digest);
            stages[i] = ShardStage({host: hosts[i], inputHash: input, outputHash: output, signature: abi.encodePacked(rr, ss, v)});
            input = output;
        }
    }

    /// @dev The ghost books of a sharded fulfilment, computed independently of the market's `_payPipeline`.
    function _bookSharded(InferenceRequest memory r) internal {
        uint256 c = _currency(r);
        uint256 royalty = uint256(r.fee) * r.royaltyBps / 10_000;
        uint256 protocolFee = uint256(r.fee) * r.protocolFeeBps / 10_000;
        _credit(c, modelOwner, royalty);
        _credit(c, treasury, protocolFee);
        (, uint32[] memory weights) = ModelRegistry(market.modelRegistry()).shardPlan(r.modelVersionId);
        uint256 total;
        for (uint256 i; i < weights.length; ++i) total += weights[i];
        uint256 pool = r.fee - royalty - protocolFee;
        uint256 paid;
        for (uint256 i; i < hosts.length; ++i) {
            uint256 share = i + 1 == hosts.length ? pool - paid : pool * weights[i] / total;
            paid += share;
            _credit(c, hosts[i], share);
        }
        ghostEscrow[c] -= r.fee;
    }

    function refund(uint256 indexSeed) external {
        ++calls;
        if (open.length == 0) return;
        uint256 index = indexSeed % open.length;
        InferenceRequest memory r = open[index];
        if (block.timestamp <= r.deadline) vm.warp(uint256(r.deadline) + 1);
        market.refund(r);
        uint256 c = _currency(r);
        _credit(c, r.requester, r.fee);
        ghostEscrow[c] -= r.fee;
        _remove(index);
        ++refunded;
    }

    /// @dev Settles one worker's earnings on every version; the split is computed here from the ghost books.
    function settle(uint256 claimerSeed, bool inToken) external {
        ++calls;
        uint256 c = inToken ? 1 : 0;
        address w = claimers[claimerSeed % claimers.length];
        for (uint256 i; i < versionIds.length; ++i) {
            uint64 v = versionIds[i];
            uint256 fees = ghostFees[c][w][v];
            uint256 protocolFees = ghostProtocolFees[c][w][v];
            (,,, uint16 royaltyBps,) = _terms(v);
            uint256 royalty = fees * royaltyBps / 10_000;
            _credit(c, w, fees - royalty - protocolFees);
            _credit(c, modelOwner, royalty);
            _credit(c, treasury, protocolFees);
            ghostFees[c][w][v] = 0;
            ghostProtocolFees[c][w][v] = 0;
        }
        market.settle(w, versionIds, inToken ? address(token) : address(0));
    }

    /// @dev Open requests whose word names `claimant`, read from the request words themselves.
    function claimsHeldBy(address claimant) external view returns (uint256 held) {
        for (uint256 i; i < open.length; ++i) {
            RequestState memory s = market.requestState(market.requestIdOf(open[i]));
            if (s.status == RequestStatus.Claimed && s.claimant == claimant) ++held;
        }
    }

    function claimerCount() external view returns (uint256) {
        return claimers.length;
    }

    function claimerAt(uint256 i) external view returns (address) {
        return claimers[i];
    }

    function withdraw(uint256 actorSeed, bool inToken) external {
        ++calls;
        address account = accounts[actorSeed % accounts.length];
        uint256 c = inToken ? 1 : 0;
        uint256 owed = ghostCredit[c][account];
        if (owed == 0) return;
        address currency = inToken ? address(token) : address(0);
        uint256 before = currency == address(0) ? account.balance : token.balanceOf(account);
        vm.prank(account);
        market.withdraw(currency);
        uint256 received = (currency == address(0) ? account.balance : token.balanceOf(account)) - before;
        ghostCredit[c][account] = 0;
        ghostWithdrawn[c][account] += received;
        ++withdrawals;
    }

    function warp(uint32 secondsAhead) external {
        ++calls;
        vm.warp(block.timestamp + bound(secondsAhead, 1, 2 hours));
    }

    function _credit(uint256 c, address account, uint256 amount) internal {
        ghostCredit[c][account] += amount;
        ghostEarned[c][account] += amount;
    }

    function _currency(InferenceRequest memory r) internal pure returns (uint256) {
        return r.paymentToken == address(0) ? 0 : 1;
    }

    function _remove(uint256 index) internal {
        open[index] = open[open.length - 1];
        open.pop();
    }

    function _terms(uint64 versionId) internal view returns (address, uint96, uint96, uint16, bool) {
        (bool ok, bytes memory data) =
            market.modelRegistry().staticcall(abi.encodeWithSignature("inferenceTerms(uint64)", versionId));
        require(ok);
        return abi.decode(data, (address, uint96, uint96, uint16, bool));
    }
}

/// @notice Money invariants of the market under random interleavings of every operation.
contract InferenceMarketInvariantsTest is InferenceMarketBase {
    InferenceMarketHandler internal handler;

    function setUp() public {
        _deploy();
        uint64[] memory versions = new uint64[](3);
        versions[0] = 1;
        versions[1] = _publish(0);
        // A sharded version (weights 1, 2, 4: shares that round), each shard announced by its own host.
        uint32[] memory weights = new uint32[](3);
        (weights[0], weights[1], weights[2]) = (1, 2, 4);
        versions[2] = _publishSharded(700, weights);
        uint256[] memory hostKeys = new uint256[](3);
        for (uint256 i; i < 3; ++i) {
            address host;
            (host, hostKeys[i]) = makeAddrAndKey(string.concat("host", vm.toString(i)));
            _registerWorker(host);
            vm.prank(host);
            shardRegistry.announce(versions[2], uint16(i), "https://host.example");
        }
        address[] memory claimers = new address[](2);
        claimers[0] = worker;
        claimers[1] = worker2;
        // A lapse slash of an eighth of the stake: the handler runs into the open-claims bound and the slashes that
        // take workers below the minimum stake.
        MarketParams memory p = _params(250);
        p.lapseSlash = STAKE / 8;
        market.setParams(p);
        handler = new InferenceMarketHandler(market, token, treasury, modelOwner, claimers, versions);
        handler.setSharded(versions[2], hostKeys);
        token.grantRole(token.MINTER_ROLE(), address(handler));
        targetContract(address(handler));
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 48
    /// forge-config: default.invariant.fail-on-revert = true
    /// @dev balance == open escrows + credits + unsettled earnings, for ETH and for the token, to the wei.
    function invariant_balanceEqualsObligations() public view {
        assertEq(address(market).balance, _obligations(0, address(0)), "ETH");
        assertEq(token.balanceOf(address(market)), _obligations(1, address(token)), "token");
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 48
    /// forge-config: default.invariant.fail-on-revert = true
    /// @dev Every account's on-chain credit matches the books, and nobody withdrew more than it earned.
    function invariant_nobodyIsPaidTwice() public view {
        for (uint256 i; i < handler.accountCount(); ++i) {
            address account = handler.accounts(i);
            for (uint256 c; c < 2; ++c) {
                address currency = c == 0 ? address(0) : address(token);
                assertEq(market.creditOf(account, currency), handler.ghostCredit(c, account), "credit");
                assertEq(
                    handler.ghostWithdrawn(c, account) + handler.ghostCredit(c, account),
                    handler.ghostEarned(c, account),
                    "withdrawn + credit == earned"
                );
            }
        }
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 48
    /// forge-config: default.invariant.fail-on-revert = true
    /// @dev Every worker's open-claims counter equals the claims its requests' words hold, and its stake covers a
    /// lapse slash for each (claim-and-abandon never costs less than the slashes).
    function invariant_openClaimsCoveredByStake() public view {
        uint96 lapseSlash = market.params().lapseSlash;
        for (uint256 w; w < handler.claimerCount(); ++w) {
            address worker_ = handler.claimerAt(w);
            uint256 openClaims = market.openClaimsOf(worker_);
            assertEq(openClaims, handler.claimsHeldBy(worker_), "open claims");
            assertLe(openClaims * lapseSlash, workers.workerOf(worker_).stake, "stake covers every open claim's slash");
        }
    }

    /// @dev The run exercised the money paths rather than reverting early.
    function afterInvariant() public view {
        assertGt(handler.calls(), 0);
    }

    function _obligations(uint256 c, address currency) internal view returns (uint256 sum) {
        sum = handler.ghostEscrow(c);
        for (uint256 i; i < handler.accountCount(); ++i) {
            sum += market.creditOf(handler.accounts(i), currency);
        }
        for (uint256 w; w < handler.claimerCount(); ++w) {
            address worker_ = handler.claimerAt(w);
            for (uint256 i; i < handler.versionCount(); ++i) {
                uint64 v = handler.versionIds(i);
                (uint128 fees, uint128 protocolFees) = market.earnedOf(worker_, v, currency);
                assertEq(fees, handler.ghostFees(c, worker_, v), "earned fees");
                assertEq(protocolFees, handler.ghostProtocolFees(c, worker_, v), "earned protocol fees");
                sum += fees;
            }
        }
    }
}
