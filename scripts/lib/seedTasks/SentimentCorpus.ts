import { seededRandom } from "./SeedTask.js";

/**
 * A seeded generator of short English reviews with a sentiment label (no text corpus ships in a package here):
 * "the plot was not great", "a charming cast and a superb ending", ... Each review holds one or two judgements of one
 * polarity, and a quarter of the judgements are negated ("was not great" is negative, "was not boring" positive),
 * so word order matters: a bag of words cannot tell "not great" from "great". Label 1 = positive.
 */
const POSITIVE = ["great", "wonderful", "superb", "brilliant", "delightful", "moving", "excellent", "charming", "gripping", "fresh"];
const NEGATIVE = ["awful", "boring", "dull", "terrible", "weak", "clumsy", "tedious", "bland", "painful", "messy"];
const NOUNS = ["movie", "film", "plot", "acting", "script", "ending", "story", "cast", "music", "pacing"];
const OPENERS = ["honestly", "overall", "sadly", "frankly", "well", "i think"];

/** Every word the generator can write, in a fixed order. */
export const CORPUS_WORDS: readonly string[] = [...new Set(["the", "a", "was", "were", "not", "and", "but", "really", ...OPENERS.flatMap((o) => o.split(" ")), ...POSITIVE, ...NEGATIVE, ...NOUNS])];

export interface Review {
  readonly text: string;
  readonly positive: boolean;
}

export function generateReviews(count: number, seed: number): Review[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const reviews: Review[] = [];
  for (let i = 0; i < count; i++) {
    const positive = i % 2 === 0; // balanced
    const judgement = () => {
      const negated = random() < 0.25;
      const adjective = pick(positive !== negated ? POSITIVE : NEGATIVE);
      return `the ${pick(NOUNS)} was ${negated ? "not " : random() < 0.3 ? "really " : ""}${adjective}`;
    };
    const parts = [random() < 0.3 ? `${pick(OPENERS)} ` : "", judgement(), random() < 0.5 ? ` and ${judgement()}` : ""];
    reviews.push({ text: parts.join(""), positive });
  }
  return reviews;
}
