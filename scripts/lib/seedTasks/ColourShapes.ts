import type { Samples } from "../../../worker/src/data/schema/DatasetEncoding.js";
import { seededRandom } from "./SeedTask.js";

/** The shapes of `colour-16x16x3/shapes-4`, in class order. */
export const SHAPES = ["circle", "square", "triangle", "cross"] as const;
export const SIZE = 16;

/**
 * A seeded generator of 16x16 RGB images of one shape each (no CIFAR images ship in a package here): a random dark
 * background with per-pixel noise, and a circle, square, triangle or cross of a random bright colour, radius 3..6,
 * centred anywhere it fits. The colour says nothing about the class (every shape takes every colour): a model must
 * learn the shape. Image i's class is i mod 4, so every set is balanced.
 */
export function colourShapes(count: number, seed: number): Samples {
  const random = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const features = new Uint8Array(count * SIZE * SIZE * 3);
  const labels = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    const shape = i % SHAPES.length;
    labels[i] = shape;
    const background = [int(0, 90), int(0, 90), int(0, 90)];
    const colour = [int(150, 255), int(150, 255), int(150, 255)];
    const r = int(3, 6);
    const cx = int(r, SIZE - 1 - r);
    const cy = int(r, SIZE - 1 - r);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const dx = x - cx;
        const dy = y - cy;
        const inside =
          shape === 0
            ? dx * dx + dy * dy <= r * r
            : shape === 1
              ? Math.abs(dx) <= r && Math.abs(dy) <= r
              : shape === 2
                ? dy >= -r && dy <= r && Math.abs(dx) <= (dy + r) / 2
                : (Math.abs(dx) <= 1 && Math.abs(dy) <= r) || (Math.abs(dy) <= 1 && Math.abs(dx) <= r);
        const base = ((i * SIZE + y) * SIZE + x) * 3;
        for (let c = 0; c < 3; c++) {
          const v = inside ? colour[c] : background[c] + int(-20, 20);
          features[base + c] = Math.max(0, Math.min(255, v));
        }
      }
    }
  }
  return { count, features, labels };
}
