import type { Conv2DBackpropFilterAttrs, KernelConfig, KernelFunc, Tensor4D, TensorInfo } from "@tensorflow/tfjs";
import type { Tf } from "./backend.js";
import type { WasmBackendLike } from "./wasmBackendLike.js";


/**
 * The WASM backend of tfjs 4.22 has every kernel a CNN's backward pass needs except
 * Conv2DBackpropFilter (the gradient of conv2d with respect to its filter), so training a CNN on
 * it throws "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'". This registers one
 * built from WASM's own conv2d, so the whole training step stays on WASM.
 *
 * Chosen over "train CNNs on the cpu backend": inference and training share one backend, nothing
 * switches the process-global backend while other jobs run, and it is fast — the cpu backend's
 * filter gradient is a scalar JS loop that took over a minute for one batch of 64 through the
 * FedAvg CNN, this takes a fraction of a second.
 *
 * The identity used, for stride s and padding already applied to x:
 *   dW[kh, kw, ci, co] = sum over b, oy, ox of x[b, oy*s + kh, ox*s + kw, ci] * dy[b, oy, ox, co]
 * which is a conv2d of x transposed to [ci, H, W, b] (the channels become the batch and the batch
 * becomes the channels) with dy transposed to [oh, ow, b, co] as the filter, dilated by s.
 */
export function registerWasmConv2DBackpropFilter(tf: Tf): void {
  const kernelName = "Conv2DBackpropFilter";
  if (tf.getKernelsForBackend("wasm").some((k) => k.kernelName === kernelName)) return;

  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const wasm = backend as unknown as WasmBackendLike;
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
    if (dataFormat !== "NHWC") throw new Error(`${kernelName} on wasm supports NHWC only, got ${dataFormat}`);
    // Inputs are copied into fresh tensors rather than aliased, so disposing them cannot free the
    // caller's buffers; the copies are small next to the convolution.
    const values = tf.tidy(() => {
      const xs = tf.tensor4d(wasm.readSync(x.dataId) as Float32Array, x.shape as Tensor4D["shape"]);
      const dys = tf.tensor4d(wasm.readSync(dy.dataId) as Float32Array, dy.shape as Tensor4D["shape"]);
      return conv2dFilterGradient(tf, xs, dys, filterShape, strides, pad, dimRoundingMode).dataSync() as Float32Array;
    });
    return wasm.makeOutput(filterShape, "float32", undefined, values);
  };

  const config: KernelConfig = { kernelName, backendName: "wasm", kernelFunc };
  tf.registerKernel(config);
}

/** dL/dW of `conv2d(x, W, strides, pad)` given dL/dy, in NHWC, with ops every backend has. */
export function conv2dFilterGradient(
  tf: Tf,
  x: Tensor4D,
  dy: Tensor4D,
  filterShape: [number, number, number, number],
  strides: Conv2DBackpropFilterAttrs["strides"],
  pad: Conv2DBackpropFilterAttrs["pad"],
  dimRoundingMode?: Conv2DBackpropFilterAttrs["dimRoundingMode"],
): Tensor4D {
  const [filterHeight, filterWidth, inChannels, outChannels] = filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  const { top, bottom, left, right } = info.padInfo;
  return tf.tidy(() => {
    const padded = tf.pad(x, [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]]);
    const channelsAsBatch = padded.transpose<Tensor4D>([3, 1, 2, 0]);
    const gradientAsFilter = dy.transpose<Tensor4D>([1, 2, 0, 3]);
    const full = tf.conv2d(channelsAsBatch, gradientAsFilter, 1, "valid", "NHWC", [info.strideHeight, info.strideWidth]);
    return full.slice([0, 0, 0, 0], [inChannels, filterHeight, filterWidth, outChannels]).transpose<Tensor4D>([1, 2, 0, 3]);
  });
}
