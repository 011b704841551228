import { selectBackend } from "../worker/src/ml/backend.js";
const { tf } = await selectBackend();
for (const [inDim, width] of [[784, 4096], [4096, 4096], [32, 64], [4096, 10]]) {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [inDim], units: width, activation: "relu" }));
  model.add(tf.layers.dense({ units: width, activation: "relu" }));
  const xs = Array.from({ length: 13 }, (_, i) => tf.randomNormal([1, inDim], 0, 1, "float32", i));
  const solo = xs.map((x) => Buffer.from(((model.predict(x) as any).dataSync() as Float32Array).buffer));
  for (const n of [2, 5, 8, 13]) {
    const batch = (model.predict(tf.concat(xs.slice(0, n))) as any).dataSync() as Float32Array;
    let same = 0;
    for (let i = 0; i < n; i++) if (Buffer.from(batch.buffer, i * width * 4, width * 4).equals(solo[i])) same++;
    console.log(inDim, width, "batch", n, "rows equal to solo:", same, "/", n);
  }
}
