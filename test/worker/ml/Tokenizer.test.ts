import { expect } from "chai";
import { InferenceEncodingError, ModelManifestError } from "../../../worker/src/ml/ModelError.js";
import { WordTokenizer, tokenizerSchema, wordsOf } from "../../../worker/src/ml/Tokenizer.js";

const vocabulary = { tokens: ["<pad>", "<unk>", "the", "The", "cat", "naïve", "don't"] };
const spec = (extra: object = {}) => tokenizerSchema.parse({ kind: "word-vocab", vocabCid: "bafy-test", unknownId: 1, ...extra });

describe("WordTokenizer (word-vocab)", () => {
  it("cuts words by Unicode word segmentation: punctuation and spaces are not words, apostrophes inside words are", () => {
    expect(wordsOf("  The cat's naïve, isn't it?! 42 ", true)).to.deep.equal(["the", "cat's", "naïve", "isn't", "it", "42"]);
    expect(wordsOf("NAI\u0308VE", true)).to.deep.equal(["naïve"]); // NFC before lower-casing
    expect(wordsOf("The The", false)).to.deep.equal(["The", "The"]);
  });

  it("maps words to their vocabulary ids, unknown words to unknownId; lowercase is the default", () => {
    expect(new WordTokenizer(spec(), vocabulary).encode("The cat, the DOG. Don't!", 16)).to.deep.equal([2, 4, 2, 1, 6]);
    expect(new WordTokenizer(spec({ lowercase: false }), vocabulary).encode("The the", 16)).to.deep.equal([3, 2]);
  });

  it("truncates to the model's length unless truncate is false; a text without words and a bad unknownId are refused", () => {
    expect(new WordTokenizer(spec(), vocabulary).encode("the cat the cat", 3)).to.deep.equal([2, 4, 2]);
    expect(() => new WordTokenizer(spec({ truncate: false }), vocabulary).encode("the cat the cat", 3)).to.throw(InferenceEncodingError, "the text has 4 words, the model takes at most 3");
    expect(() => new WordTokenizer(spec(), vocabulary).encode(" ... ", 3)).to.throw(InferenceEncodingError, "the text has no words");
    expect(() => new WordTokenizer(spec({ unknownId: 7 }), vocabulary)).to.throw(ModelManifestError, "tokenizer unknownId 7 is not an id of its 7-token vocabulary");
  });
});
