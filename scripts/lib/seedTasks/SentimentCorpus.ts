import { seededRandom } from "./SeedTask.js";

/**
 * A seeded generator of short English reviews with a sentiment label (no text corpus ships in a package here):
 * "the plot was not great and the cast was quite dull", ... Each review holds two judgements of one
 * polarity, and a quarter of the judgements are negated ("was not great" is negative, "was not boring" positive),
 * so word order matters: a bag of words cannot tell "not great" from "great". Label 1 = positive.
 */
const POSITIVE = ["great", "wonderful", "superb", "brilliant", "delightful", "moving", "excellent", "charming", "gripping", "fresh"];
const NEGATIVE = ["awful", "boring", "dull", "terrible", "weak", "clumsy", "tedious", "bland", "painful", "messy"];
const NOUNS = ["movie", "film", "plot", "acting", "script", "ending", "story", "cast", "music", "pacing", "dialogue", "camera", "lead", "humour", "finale"];
const OPENERS = ["honestly", "overall", "sadly", "frankly", "well", "i think", "to me", "in short"];

/** Every word the generator can write, in a fixed order. */
export const CORPUS_WORDS: readonly string[] = [...new Set(["the", "a", "was", "were", "not", "and", "but", "really", "quite", ...OPENERS.flatMap((o) => o.split(" ")), ...POSITIVE, ...NEGATIVE, ...NOUNS])];

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
      const intensity = random();
      return `the ${pick(NOUNS)} was ${negated ? "not " : intensity < 0.25 ? "really " : intensity < 0.5 ? "quite " : ""}${adjective}`;
    };
    // Two judgements (at most 14 words): enough variety that independent reviewers rarely write the same review.
    const parts = [random() < 0.5 ? `${pick(OPENERS)} ` : "", judgement(), ` and ${judgement()}`];
    reviews.push({ text: parts.join(""), positive });
  }
  return reviews;
}
