/** WorkerRegistry capability bits (contracts/workers/WorkerRegistry.sol), one source for the off-chain code. */
export const CAP_TRAIN = 1;
export const CAP_INFER = 2;
export const CAP_VALIDATE = 4;
