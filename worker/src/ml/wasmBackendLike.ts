import type { TensorInfo } from "@tensorflow/tfjs";

/** What the project's own WASM kernels use of tfjs-backend-wasm's backend object (its class is not exported). */
export interface WasmBackendLike {
  readSync(dataId: TensorInfo["dataId"]): unknown;
  makeOutput(shape: number[], dtype: "float32", memoryOffset?: number, values?: Float32Array): TensorInfo;
  disposeData(dataId: TensorInfo["dataId"], force?: boolean): boolean;
}
