// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DataRegistryBase} from "./DataRegistryBase.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";
import {TesseraToken} from "../../../contracts/token/TesseraToken.sol";
import {DataRegistry} from "../../../contracts/data/DataRegistry.sol";
import {IDataRegistry} from "../../../contracts/interfaces/IDataRegistry.sol";
import {ContributionArgs, Dataset, DatasetStatus, CreditReason} from "../../../contracts/types/DataTypes.sol";
import {PermitArgs} from "../../../contracts/types/InferenceTypes.sol";

/// @notice Drives the registry with random contributions, committee draws, votes, finalizations, dataset
/// withdrawals, royalties, funding, withdrawals, blocks and time. It books every token that comes in or goes out, and every credit from the events.
contract DataRegistryHandler is CommonBase, StdCheats, StdUtils {
    DataRegistry internal immutable data;
    TesseraToken internal immutable token;

    address[] internal contributors;
    address[] internal validators;
    address[] public accounts; // every account that can hold credit
    uint256 internal seed;

    uint256 public ghostIn; // bonds + funding + royalties + slashes received
    uint256 public ghostOut; // withdrawals paid
    uint256 public ghostPool; // funding + slashes + rejected bonds - rewards paid from the pool
    mapping(address => uint256) public ghostEarned; // credits seen in events
    mapping(address => uint256) public ghostWithdrawn;
    mapping(uint64 => uint256) public ghostBond; // bond taken at contribution
    mapping(uint64 => uint256) public ghostBondPaid; // BondRefund credited, or the bond moved to the pool on rejection
    mapping(uint64 => uint256) public ghostRoyalties;
    uint256 public calls;

    constructor(DataRegistry data_, TesseraToken token_, address[] memory validators_) {
        data = data_;
        token = token_;
        validators = validators_;
        contributors.push(makeAddr("contributor0"));
        contributors.push(makeAddr("contributor1"));
        contributors.push(makeAddr("contributor2"));
        for (uint256 i; i < contributors.length; ++i) accounts.push(contributors[i]);
        for (uint256 i; i < validators.length; ++i) accounts.push(validators[i]);
        token.approve(address(data_), type(uint256).max);
    }

    function accountCount() external view returns (uint256) {
        return accounts.length;
    }

    function contribute(uint256 actorSeed, uint32 samples) external {
        ++calls;
        address contributor = contributors[actorSeed % contributors.length];
        uint96 bond = data.params().bond;
        token.mint(contributor, bond);
        ContributionArgs memory a = ContributionArgs({
            cid: hex"0155",
            commitment: keccak256(abi.encode(++seed)),
            sampleCount: uint32(bound(samples, 1, 1e6)),
            schemaId: bytes32(0),
            licenseId: bytes32(0),
            keyEnvelopesCid: ""
        });
        vm.startPrank(contributor);
        token.approve(address(data), bond);
        PermitArgs memory none;
        vm.recordLogs();
        uint64 id = data.contribute(a, none);
        vm.stopPrank();
        _book();
        ghostBond[id] = bond;
        ghostIn += bond;
    }

    function vote(uint256 datasetSeed, uint256 validatorSeed, bool accept, uint8 reason) external {
        ++calls;
        (uint64 id, bool found) = _pick(datasetSeed, DatasetStatus.Pending);
        if (!found || !_drawn(id)) return;
        Dataset memory d = data.datasetOf(id);
        if (block.timestamp > d.votingDeadline) return;
        address validator;
        for (uint256 k; k < validators.length; ++k) {
            address candidate = validators[(validatorSeed % validators.length + k) % validators.length];
            if (!data.hasVoted(id, candidate) && data.isValidator(candidate) && data.isOnCommittee(id, candidate)) {
                validator = candidate;
                break;
            }
        }
        if (validator == address(0)) return;
        vm.recordLogs();
        vm.prank(validator);
        data.vote(id, accept, accept ? 0 : uint8(bound(reason, 1, 6)));
        _book();
    }

    function finalize(uint256 datasetSeed) external {
        ++calls;
        (uint64 id, bool found) = _pick(datasetSeed, DatasetStatus.Pending);
        if (!found || !_drawn(id)) return;
        Dataset memory d = data.datasetOf(id);
        if (block.timestamp <= d.votingDeadline) vm.warp(uint256(d.votingDeadline) + 1);
        vm.recordLogs();
        data.finalize(id);
        _book();
    }

    function withdrawDataset(uint256 datasetSeed, bool accepted) external {
        ++calls;
        (uint64 id, bool found) = _pick(datasetSeed, accepted ? DatasetStatus.Accepted : DatasetStatus.Pending);
        if (!found) return;
        Dataset memory d = data.datasetOf(id);
        if (d.timesUsed != 0 || !accepted && data.committeeSeed(id) != bytes32(0)) return;
        vm.recordLogs();
        vm.prank(d.contributor);
        data.withdrawDataset(id);
        _book();
    }

    function creditRoyalties(uint256 datasetSeed, uint32 used, uint96 amount) external {
        ++calls;
        (uint64 first, bool found) = _pick(datasetSeed, DatasetStatus.Accepted);
        if (!found) return;
        (uint64 second,) = _pick(datasetSeed / 7, DatasetStatus.Accepted);
        uint64[] memory ids = new uint64[](2);
        uint32[] memory samples = new uint32[](2);
        (ids[0], ids[1]) = (first, second);
        samples[0] = uint32(bound(used, 1, data.datasetOf(first).sampleCount));
        samples[1] = uint32(bound(uint256(used) * 31, 1, data.datasetOf(second).sampleCount));
        amount = uint96(bound(amount, 1, 1e24));
        token.mint(address(this), amount);
        vm.recordLogs();
        data.creditRoyalties(ids, samples, amount);
        _book();
        ghostIn += amount;
    }

    function fund(uint96 amount) external {
        ++calls;
        amount = uint96(bound(amount, 1, 1e24));
        token.mint(address(this), amount);
        data.fundRewardPool(amount);
        ghostIn += amount;
        ghostPool += amount;
    }

    function withdraw(uint256 actorSeed) external {
        ++calls;
        address account = accounts[actorSeed % accounts.length];
        if (data.creditOf(account) == 0) return;
        uint256 before = token.balanceOf(account);
        vm.prank(account);
        data.withdraw();
        uint256 received = token.balanceOf(account) - before;
        ghostWithdrawn[account] += received;
        ghostOut += received;
    }

    function warp(uint32 secondsAhead) external {
        ++calls;
        vm.warp(block.timestamp + bound(secondsAhead, 1, 12 hours));
    }

    function roll(uint16 blocks) external {
        ++calls;
        vm.roll(block.number + bound(blocks, 1, 300));
    }

    /// @dev Draws the dataset's committee if it is not yet (mining a block or re-anchoring an expired seed first).
    function _drawn(uint64 id) internal returns (bool) {
        if (_seedRecorded(id)) return true;
        if (block.number <= data.validationOf(id).seedBlock) vm.roll(block.number + 1);
        data.drawCommittee(id);
        if (!_seedRecorded(id)) {
            vm.roll(block.number + 1);
            data.drawCommittee(id);
        }
        return true;
    }

    function _seedRecorded(uint64 id) internal view returns (bool) {
        return data.datasetOf(id).votingDeadline != 0;
    }

    /// @dev A dataset in `status`, starting the search at a random id.
    function _pick(uint256 datasetSeed, DatasetStatus status) internal view returns (uint64 id, bool found) {
        uint64 count = data.datasetCount();
        if (count == 0) return (0, false);
        for (uint256 k; k < count; ++k) {
            id = uint64((datasetSeed % count + k) % count) + 1;
            if (data.datasetOf(id).status == status) return (id, true);
        }
        return (0, false);
    }

    /// @dev Books the credits, rewards and slashes from the registry's events of the last call.
    function _book() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(data)) continue;
            bytes32 sig = log.topics[0];
            if (sig == IDataRegistry.Credited.selector) {
                address account = address(uint160(uint256(log.topics[1])));
                uint64 id = uint64(uint256(log.topics[2]));
                (CreditReason reason, uint256 amount) = abi.decode(log.data, (CreditReason, uint256));
                ghostEarned[account] += amount;
                if (reason == CreditReason.BondRefund) {
                    ghostBondPaid[id] += amount;
                } else {
                    ghostPool -= amount;
                }
            } else if (sig == IDataRegistry.RoyaltiesCredited.selector) {
                uint64 id = uint64(uint256(log.topics[1]));
                address contributor = address(uint160(uint256(log.topics[2])));
                (, uint256 amount) = abi.decode(log.data, (uint32, uint256));
                ghostEarned[contributor] += amount;
                ghostRoyalties[id] += amount;
            } else if (sig == IDataRegistry.DatasetDecided.selector) {
                uint64 id = uint64(uint256(log.topics[1]));
                (DatasetStatus status,,,) = abi.decode(log.data, (DatasetStatus, uint8, uint32, uint32));
                if (status == DatasetStatus.Rejected) {
                    ghostBondPaid[id] += ghostBond[id];
                    ghostPool += ghostBond[id];
                }
            } else if (sig == IDataRegistry.DissenterSlashed.selector) {
                uint256 slashed = abi.decode(log.data, (uint256));
                ghostIn += slashed;
                ghostPool += slashed;
            }
        }
    }
}

/// @notice Money invariants of the DataRegistry under random interleavings of every operation.
contract DataRegistryInvariantsTest is DataRegistryBase {
    DataRegistryHandler internal handler;

    function setUp() public {
        _deploy(5);
        handler = new DataRegistryHandler(data, token, validators);
        token.grantRole(token.MINTER_ROLE(), address(handler));
        data.grantRole(data.ROYALTY_PAYER_ROLE(), address(handler));
        targetContract(address(handler));
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 64
    /// @dev The registry holds exactly its obligations: bonds of Pending datasets + reward pool + credits, and
    /// that is exactly what came in minus what went out.
    function invariant_balanceEqualsObligations() public view {
        uint256 credits;
        for (uint256 i; i < handler.accountCount(); ++i) credits += data.creditOf(handler.accounts(i));
        uint256 balance = token.balanceOf(address(data));
        assertEq(balance, data.bondsHeld() + data.rewardPool() + credits, "balance == bonds + pool + credits");
        assertEq(balance, handler.ghostIn() - handler.ghostOut(), "balance == in - out");
        assertEq(data.rewardPool(), handler.ghostPool(), "pool == funded + slashed - rewards");
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 64
    /// @dev Each bond is held while Pending and paid out exactly once afterwards; royalties match their events.
    function invariant_eachBondPaidOnce() public view {
        uint256 held;
        for (uint64 id = 1; id <= data.datasetCount(); ++id) {
            Dataset memory d = data.datasetOf(id);
            uint256 bond = handler.ghostBond(id);
            if (d.status == DatasetStatus.Pending) {
                assertEq(d.bond, bond, "pending holds its bond");
                assertEq(handler.ghostBondPaid(id), 0, "nothing paid while pending");
                held += bond;
            } else {
                assertEq(d.bond, 0, "settled holds nothing");
                assertEq(handler.ghostBondPaid(id), bond, "bond paid exactly once");
            }
            assertEq(d.royalties, handler.ghostRoyalties(id), "royalties");
        }
        assertEq(data.bondsHeld(), held, "bondsHeld == sum of pending bonds");
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 64
    /// @dev Every account's credit plus what it withdrew equals what it was credited: nobody is paid twice.
    function invariant_nobodyIsPaidTwice() public view {
        for (uint256 i; i < handler.accountCount(); ++i) {
            address account = handler.accounts(i);
            assertEq(
                handler.ghostWithdrawn(account) + data.creditOf(account),
                handler.ghostEarned(account),
                "withdrawn + credit == earned"
            );
        }
    }

    /// @dev The run exercised the money paths rather than reverting early.
    function afterInvariant() public view {
        assertGt(handler.calls(), 0);
    }
}
