// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice How a request's input is carried: the bytes themselves, or the bytes of an IPFS CID.
enum InputKind {
    Inline,
    Cid
}

/// @notice How a fulfilment's output is carried: the bytes themselves, or the bytes of an IPFS CID.
enum OutputKind {
    Inline,
    Cid
}

/// @notice Why a worker declined a request it will not claim (`InferenceMarket.decline`; an event only, nothing is
/// cancelled: the request stays open to every other worker and is refunded after its deadline if nobody serves it).
enum DeclineReason {
    None,
    InputUnavailable, // the CID's bytes could not be fetched in time
    InputMalformed, // the input's bytes do not fit the model's declared input (size, encoding)
    ModelUnavailable // the version's weights could not be fetched or do not match their content hash
}

/// @notice Lifecycle of a request slot. Settled (fulfilled or refunded) requests read as `None`.
enum RequestStatus {
    None,
    Open,
    Claimed
}

/// @notice The immutable terms of a request. `requestId = uint256(keccak256(abi.encode(request)))`.
/// @dev Only the id's slot is stored; `fulfill` and `refund` take these terms in calldata and re-hash them.
struct InferenceRequest {
    address requester; // paid the fee; receives a refund; callback target when callbackGasLimit > 0
    uint64 modelVersionId; // ModelRegistry version id (< 2^24)
    address paymentToken; // address(0) = ETH, otherwise the TesseraToken
    uint96 fee; // escrowed; paid in full on fulfilment, refunded in full after the deadline
    uint32 deadline; // unix seconds; fulfil must happen at or before it
    uint32 callbackGasLimit; // 0 = no callback
    uint16 royaltyBps; // model owner's share, snapshotted at request time
    uint16 protocolFeeBps; // treasury's share, snapshotted at request time
    uint64 salt; // requester-chosen, so that identical requests get distinct ids
    bytes32 inputHash; // keccak256 of the input bytes (inline input, or the CID's bytes)
}

/// @notice What a requester supplies; the market fills in the rest of the `InferenceRequest`.
struct RequestArgs {
    uint64 modelVersionId;
    uint32 deadline;
    uint32 callbackGasLimit;
    uint64 salt;
    InputKind inputKind;
    bytes input;
}

/// @notice An optional ERC-2612 permit, applied before pulling a token fee. `deadline == 0` = no permit.
struct PermitArgs {
    uint256 value;
    uint256 deadline;
    uint8 v;
    bytes32 r;
    bytes32 s;
}

/// @notice One item of `fulfillBatch`.
struct Fulfillment {
    InferenceRequest request;
    OutputKind outputKind;
    bytes output;
    bytes32 outputHash;
}

/// @notice The decoded single storage word of an open request.
struct RequestState {
    RequestStatus status;
    uint32 deadline;
    uint32 claimExpiry;
    address claimant;
    uint64 modelVersionId;
}

/// @notice Tunable market parameters (set by PARAMS_ROLE).
struct MarketParams {
    uint16 protocolFeeBps; // treasury's share of each fee, snapshotted into each request
    uint32 maxRequestLifetime; // max seconds between a request and its deadline
    uint32 refundGracePeriod; // time after a deadline to refund (and slash) before the claimant can unbond
    uint32 maxInlineInputBytes; // max length of an inline input
    uint64 callbackGasPriceWei; // wei per unit of callback gas the fee must cover on top of the price
    uint96 callbackGasPriceToken; // token wei per unit of callback gas (token path)
    uint96 lapseSlash; // tokens slashed from a claimant whose claim lapsed
}
