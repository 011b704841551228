import type {
  BatchMatMulAttrs,
  Conv2DBackpropInputAttrs,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from "@tensorflow/tfjs";
import type { Tf } from "./backend.js";
import type { WasmBackendLike } from "./wasmBackendLike.js";


/** Marks a kernel config as one of ours, so registering twice does not wrap a wrapper. */
const FAST_PATH = Symbol.for("tessera.wasmFastPath");

/**
 * Two kernels of tfjs-backend-wasm 4.22 that a training step needs fall off XNNPACK onto scalar
 * C++ loops, and together they made most of the time of a FedAvg CNN step on WASM (profiled on a
 * batch of 50: Conv2DBackpropInput 600 ms, BatchMatMul 370 ms, the forward Conv2D 150 ms):
 *
 * - BatchMatMul with `transposeA` or `transposeB` (the dense layers' backward pass: dx = dy·Wᵀ,
 *   dW = xᵀ·dy) runs a blocked scalar loop; only the untransposed product without batch
 *   dimensions goes to XNNPACK, 10-25x faster. The wrapper materializes the transpose with WASM's
 *   Transpose kernel and calls the untransposed product; for A·Bᵀ with A the smaller (dy·Wᵀ), it
 *   computes (B·Aᵀ)ᵀ instead, which transposes dy and the product rather than the weights.
 * - Conv2DBackpropInput (the gradient of conv2d with respect to its input) is a scalar loop too.
 *   For stride 1 it is a conv2d of dy with the filter flipped in space and its channels swapped,
 *   padded by (filter size - 1 - forward padding), which runs on WASM's XNNPACK Conv2D, about 10x
 *   faster. Strided convolutions keep the original kernel.
 *
 * Each wrapper computes the same mathematical result as the kernel it replaces (up to float
 * summation order); the replaced kernel stays reachable for the cases the wrapper does not cover.
 */
export function registerWasmFastGradientKernels(tf: Tf): void {
  wrap(tf, "BatchMatMul", (original, kernel) => (args) => {
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    if (!transposeA && !transposeB) return original(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const temporaries: TensorInfo[] = [];
    const swapLastTwo = (x: TensorInfo, temporary = true): TensorInfo => {
      const rank = x.shape.length;
      const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
      const transposed = kernel("Transpose")({ inputs: { x }, backend: args.backend, attrs: { perm } }) as TensorInfo;
      if (temporary) temporaries.push(transposed);
      return transposed;
    };
    try {
      const [m, n] = [a.shape.at(-2)!, b.shape.at(-2)!];
      if (!transposeA && transposeB && a.shape.length === 2 && b.shape.length === 2 && m < n) {
        // A·Bᵀ = (B·Aᵀ)ᵀ: transposing the small A and the small product is cheaper than
        // transposing (and XNNPACK then packing) a large B, e.g. a dense layer's weights in dx = dy·Wᵀ.
        const product = original({
          ...args,
          inputs: { a: b, b: swapLastTwo(a) },
          attrs: { ...args.attrs, transposeA: false, transposeB: false },
        }) as TensorInfo;
        temporaries.push(product);
        return swapLastTwo(product, false);
      }
      return original({
        ...args,
        inputs: { a: transposeA ? swapLastTwo(a) : a, b: transposeB ? swapLastTwo(b) : b },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temporaries) backend.disposeData(t.dataId);
    }
  });

  wrap(tf, "Conv2DBackpropInput", (original, kernel) => (args) => {
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const [strideHeight, strideWidth] = typeof strides === "number" ? [strides, strides] : strides;
    if (strideHeight !== 1 || strideWidth !== 1 || dataFormat !== "NHWC") return original(args);
    const filterShape = filter.shape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filterShape,
      1,
      1,
      pad,
      dimRoundingMode,
      false,
      "channelsLast",
    );
    const [filterHeight, filterWidth] = filterShape;
    const [, inHeight, inWidth] = inputShape;
    const [, outHeight, outWidth] = dy.shape;
    // dx[i] = sum over k of dy[i + top - k] * W[k]: a "full" correlation of dy with the flipped
    // filter, padded so that the output has the input's size.
    const top = filterHeight - 1 - info.padInfo.top;
    const left = filterWidth - 1 - info.padInfo.left;
    const bottom = inHeight + filterHeight - 1 - outHeight - top;
    const right = inWidth + filterWidth - 1 - outWidth - left;
    if (Math.min(top, left, bottom, right) < 0) return original(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const swapped = kernel("Transpose")({
      inputs: { x: filter },
      backend: args.backend,
      attrs: { perm: [0, 1, 3, 2] },
    }) as TensorInfo;
    try {
      const flipped = kernel("Reverse")({ inputs: { x: swapped }, backend: args.backend, attrs: { dims: [0, 1] } }) as TensorInfo;
      try {
        const attrs = {
          strides: 1,
          pad: [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ],
          dataFormat: "NHWC",
          dilations: 1,
          dimRoundingMode: undefined,
        } as unknown as NamedAttrMap;
        return kernel("Conv2D")({ inputs: { x: dy, filter: flipped }, backend: args.backend, attrs }) as TensorInfo;
      } finally {
        backend.disposeData(flipped.dataId);
      }
    } finally {
      backend.disposeData(swapped.dataId);
    }
  });
}

function wrap(
  tf: Tf,
  kernelName: string,
  makeFast: (original: KernelFunc, kernel: (name: string) => KernelFunc) => KernelFunc,
): void {
  const config = tf.getKernel(kernelName, "wasm");
  if (config === undefined) throw new Error(`tfjs-backend-wasm has no ${kernelName} kernel to speed up`);
  if ((config as unknown as Record<symbol, unknown>)[FAST_PATH]) return;
  const kernel = (name: string): KernelFunc => {
    const found = tf.getKernel(name, "wasm");
    if (found === undefined) throw new Error(`tfjs-backend-wasm has no ${name} kernel`);
    return found.kernelFunc;
  };
  const fast: KernelConfig = {
    kernelName,
    backendName: "wasm",
    // The original's setupFunc already ran when the backend initialized; keep it for a re-init.
    setupFunc: config.setupFunc,
    disposeFunc: config.disposeFunc,
    kernelFunc: makeFast(config.kernelFunc, kernel),
  };
  (fast as unknown as Record<symbol, unknown>)[FAST_PATH] = true;
  tf.unregisterKernel(kernelName, "wasm");
  tf.registerKernel(fast);
}
