import { Buffer } from "buffer";

/**
 * eciesjs 0.4 (the dataset key's envelopes, worker/src/data/KeyEnvelopes.ts, shared with the tasks and validators)
 * returns Node Buffers through the global `Buffer`; a page has none, so it gets the `buffer` package's, the usual
 * browser polyfill. Imported first by the pages that seal or open envelopes (contribute, training; loaded only when
 * opened).
 */
globalThis.Buffer ??= Buffer;
