import type { Samples } from "../../../worker/src/data/schema/DatasetEncoding.js";
import { seededRandom } from "./SeedTask.js";

/**
 * A seeded synthetic daily price series (no market data can be downloaded here; the generator is the data's
 * documentation). Log returns follow an AR(1) process with volatility regimes:
 *
 *   r_t = PHI * r_{t-1} + sigma_t * e_t,   e_t ~ N(0, 1),   sigma_t = 0.01 in calm regimes, 0.02 in volatile ones
 *   (a regime lasts a geometric number of days, mean 50), close_t = close_{t-1} * exp(r_t + DRIFT);
 *   log volume_t = 0.7 * log volume_{t-1} + 0.3 * (log 1e6 + 25 * |r_t|) + 0.05 * u_t,   u_t ~ N(0, 1).
 *
 * With PHI = 0.45, yesterday's return says something about today's sign (for a Gaussian AR(1), the best rule on
 * the last return is right 1/2 + arcsin(PHI)/pi = 64.9 % of the days): a learnable, honest-sized signal.
 */
export const PHI = 0.45;
export const DRIFT = 0.0003;

export interface PriceSeries {
  readonly close: Float64Array;
  readonly volume: Float64Array;
}

export function generatePriceSeries(days: number, seed: number): PriceSeries {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const close = new Float64Array(days);
  const volume = new Float64Array(days);
  let r = 0;
  let logVolume = Math.log(1e6);
  let volatile = false;
  close[0] = 100;
  volume[0] = 1e6;
  for (let t = 1; t < days; t++) {
    if (random() < 1 / 50) volatile = !volatile;
    r = PHI * r + (volatile ? 0.02 : 0.01) * normal();
    close[t] = close[t - 1] * Math.exp(r + DRIFT);
    logVolume = 0.7 * logVolume + 0.3 * (Math.log(1e6) + 25 * Math.abs(r)) + 0.05 * normal();
    volume[t] = Math.exp(logVolume);
  }
  return { close, volume };
}

/** Days per window (the schema's first dimension). */
export const WINDOW = 20;

/**
 * The samples of `price-window-20x2/next-up-down`: for each day t with WINDOW days before it and one after, the
 * window's [20 x log return, 0.5 x log volume change] (oldest first, each clipped to +-1), labelled 1 ("up") when
 * close_{t+1} > close_t.
 */
export function priceWindows(series: PriceSeries): Samples {
  const { close, volume } = series;
  const count = close.length - WINDOW - 1;
  const features = new Float32Array(count * WINDOW * 2);
  const labels = new Uint16Array(count);
  const clip = (v: number) => Math.max(-1, Math.min(1, v));
  for (let i = 0; i < count; i++) {
    const t = i + WINDOW; // the window's last day
    for (let k = 0; k < WINDOW; k++) {
      const day = t - WINDOW + 1 + k;
      features[(i * WINDOW + k) * 2] = clip(20 * Math.log(close[day] / close[day - 1]));
      features[(i * WINDOW + k) * 2 + 1] = clip(0.5 * Math.log(volume[day] / volume[day - 1]));
    }
    labels[i] = close[t + 1] > close[t] ? 1 : 0;
  }
  return { count, features, labels };
}
