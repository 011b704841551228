// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";
import {WorkerRegistry} from "../../../contracts/workers/WorkerRegistry.sol";
import {ModelRegistry} from "../../../contracts/models/ModelRegistry.sol";
import {InferenceMarket} from "../../../contracts/inference/InferenceMarket.sol";
import {ShardRegistry} from "../../../contracts/models/ShardRegistry.sol";
import {Shard} from "../../../contracts/interfaces/IShardRegistry.sol";
import {IModelRegistry} from "../../../contracts/interfaces/IModelRegistry.sol";
import {IWorkerRegistry} from "../../../contracts/interfaces/IWorkerRegistry.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {InferenceRequest, RequestArgs, PermitArgs, MarketParams, InputKind} from "../../../contracts/types/InferenceTypes.sol";

/// @notice Shared world for the market's Solidity tests: token, registries, market, one model, two workers.
abstract contract InferenceMarketBase is Test {
    TesseraToken internal token;
    WorkerRegistry internal workers;
    ModelRegistry internal models;
    InferenceMarket internal market;
    ShardRegistry internal shardRegistry;

    address internal treasury = makeAddr("treasury");
    address internal modelOwner = makeAddr("modelOwner");
    address internal worker = makeAddr("worker");
    address internal worker2 = makeAddr("worker2");
    address internal alice = makeAddr("alice");

    uint96 internal constant PRICE_WEI = 1e15;
    uint96 internal constant PRICE_TOKEN = 1e18;
    uint96 internal constant STAKE = 1_000_000e18;
    bytes internal constant CID = hex"01551220abababababababababababababababababababababababababababababababab";
    bytes internal constant PUBKEY = hex"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

    function _params(uint16 protocolFeeBps) internal pure returns (MarketParams memory) {
        return MarketParams({
            protocolFeeBps: protocolFeeBps,
            maxRequestLifetime: 1 days,
            refundGracePeriod: 6 hours,
            maxInlineInputBytes: 4096,
            callbackGasPriceWei: 0,
            callbackGasPriceToken: 0,
            lapseSlash: 10e18
        });
    }

    function _deploy() internal {
        vm.warp(1_700_000_000);
        token = new TesseraToken(address(this), 1e30);
        token.grantRole(token.MINTER_ROLE(), address(this));
        workers = new WorkerRegistry(address(this), IERC20(address(token)), 1_000e18, 7 days);
        models = new ModelRegistry(address(this));
        market = new InferenceMarket(
            address(this), IERC20(address(token)), IWorkerRegistry(address(workers)), models, treasury, 60, _params(250)
        );
        models.setInferenceMarket(address(market));
        workers.grantRole(workers.SLASHER_ROLE(), address(market));
        shardRegistry = new ShardRegistry(IWorkerRegistry(address(workers)), models, 30 hours);
        market.setShardRegistry(shardRegistry);
        workers.grantRole(workers.STAKE_LOCKER_ROLE(), address(shardRegistry));
        vm.prank(modelOwner);
        models.registerModel("mnist", "ipfs://meta");
        _publish(1_000);
        _registerWorker(worker);
        _registerWorker(worker2);
    }

    /// @dev The versions' terms: 10 one-byte values in and out, the test prices, `royaltyBps`.
    function _versionInput(uint16 royaltyBps) internal pure returns (IModelRegistry.VersionInput memory) {
        uint32[] memory shape = new uint32[](2);
        shape[0] = 1;
        shape[1] = 10;
        return IModelRegistry.VersionInput({
            manifestCid: CID,
            weightsCid: CID,
            contentHash: bytes32(uint256(1)),
            inputShape: shape,
            outputShape: shape,
            priceWei: PRICE_WEI,
            priceToken: PRICE_TOKEN,
            royaltyBps: royaltyBps
        });
    }

    function _publish(uint16 royaltyBps) internal returns (uint64 versionId) {
        vm.prank(modelOwner);
        versionId = models.publishVersion(1, _versionInput(royaltyBps));
        uint64[] memory ids = new uint64[](1);
        ids[0] = versionId;
        if (workers.workerOf(worker).registered) {
            vm.prank(worker);
            workers.setServedModels(ids, true);
            vm.prank(worker2);
            workers.setServedModels(ids, true);
        }
    }

    /// @dev A version cut into one shard per cost weight (one layer each), served by `worker` and `worker2`.
    function _publishSharded(uint16 royaltyBps, uint32[] memory costWeights) internal returns (uint64 versionId) {
        Shard[] memory shards = new Shard[](costWeights.length);
        for (uint256 i; i < costWeights.length; ++i) {
            shards[i] = Shard({
                firstLayer: uint32(i),
                endLayer: uint32(i + 1),
                costWeight: costWeights[i],
                byteSize: 1_000,
                contentHash: bytes32(i + 1),
                weightsCid: CID
            });
        }
        vm.prank(modelOwner);
        versionId = models.publishShardedVersion(1, _versionInput(royaltyBps), shards);
        uint64[] memory ids = new uint64[](1);
        ids[0] = versionId;
        vm.prank(worker);
        workers.setServedModels(ids, true);
        vm.prank(worker2);
        workers.setServedModels(ids, true);
    }

    function _registerWorker(address who) internal {
        token.mint(who, STAKE);
        vm.startPrank(who);
        token.approve(address(workers), STAKE);
        workers.register(STAKE, 2, PUBKEY, "");
        uint64[] memory ids = new uint64[](1);
        ids[0] = 1;
        workers.setServedModels(ids, true);
        vm.stopPrank();
    }

    function _args(uint64 versionId, uint64 salt) internal view returns (RequestArgs memory) {
        return RequestArgs({
            modelVersionId: versionId,
            deadline: uint32(block.timestamp + 600),
            callbackGasLimit: 0,
            salt: salt,
            inputKind: InputKind.Cid,
            input: CID
        });
    }

    /// @dev Opens a request from `requester`, funding it first; returns its terms.
    function _request(address requester, uint64 versionId, uint96 fee, bool inToken, uint64 salt)
        internal
        returns (InferenceRequest memory request, uint256 requestId)
    {
        RequestArgs memory a = _args(versionId, salt);
        if (inToken) {
            token.mint(requester, fee);
            vm.startPrank(requester);
            token.approve(address(market), fee);
            PermitArgs memory none;
            requestId = market.requestInferenceWithToken(a, fee, none);
            vm.stopPrank();
        } else {
            vm.deal(requester, fee);
            vm.prank(requester);
            requestId = market.requestInference{value: fee}(a);
        }
        (,,, uint16 royaltyBps,) = models.inferenceTerms(versionId);
        request = InferenceRequest({
            requester: requester,
            modelVersionId: versionId,
            paymentToken: inToken ? address(token) : address(0),
            fee: fee,
            deadline: a.deadline,
            callbackGasLimit: 0,
            royaltyBps: royaltyBps,
            protocolFeeBps: market.params().protocolFeeBps,
            salt: salt,
            inputHash: keccak256(CID)
        });
        assertEq(market.requestIdOf(request), requestId, "terms hash to the id");
    }

    function _balance(address who, address currency) internal view returns (uint256) {
        return currency == address(0) ? who.balance : token.balanceOf(who);
    }
}
