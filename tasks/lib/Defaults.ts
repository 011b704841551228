/**
 * Defaults shared by every Tessera task. Read when the config loads, so they stay cheap: no
 * imports beyond Node's.
 */
export const DEFAULT_DEPLOYMENT = process.env.TESSERA_DEPLOYMENT ?? ".tessera/deployment.json";
export const DEFAULT_DATA_DIR = process.env.TESSERA_DATA_DIR ?? ".tessera";

/** The held-out split every task uses (the one the embedded stack and the demo use too). */
export const MNIST_SPLIT = { testCount: 2_000, seed: 42 } as const;
