import type { KernelConfig, KernelFunc, TensorInfo, UnsortedSegmentSumAttrs } from "@tensorflow/tfjs";
import type { Tf } from "./backend.js";
import type { WasmBackendLike } from "./wasmBackendLike.js";


/**
 * The WASM backend of tfjs 4.22 has no UnsortedSegmentSum, which the gradient of `gather` uses, so training any
 * model with an Embedding layer (a text model) throws "Kernel 'UnsortedSegmentSum' not registered for backend
 * 'wasm'". This registers one: out[s, ...] = sum of x[i, ...] over the i with segmentIds[i] = s (ids outside
 * 0..numSegments-1 are dropped, as tfjs' own kernels do). One pass in index order, so the sums are deterministic.
 */
export function registerWasmUnsortedSegmentSum(tf: Tf): void {
  const kernelName = "UnsortedSegmentSum";
  if (tf.getKernelsForBackend("wasm").some((k) => k.kernelName === kernelName)) return;

  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const wasm = backend as unknown as WasmBackendLike;
    const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
    if (x.dtype !== "float32") throw new Error(`${kernelName} on wasm sums float32, got ${x.dtype}`);
    const values = wasm.readSync(x.dataId) as Float32Array;
    const ids = wasm.readSync(segmentIds.dataId) as Int32Array;
    const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
    const out = new Float32Array(numSegments * inner);
    for (let i = 0; i < ids.length; i++) {
      const s = ids[i];
      if (s < 0 || s >= numSegments) continue;
      for (let j = 0; j < inner; j++) out[s * inner + j] += values[i * inner + j];
    }
    return wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], "float32", undefined, out);
  };

  const config: KernelConfig = { kernelName, backendName: "wasm", kernelFunc };
  tf.registerKernel(config);
}
