import { html, type TemplateResult } from "lit-html";
import type { InputCodec } from "../../../worker/src/ml/codecs/InputCodec.js";
import type { WordTokenizer } from "../../../worker/src/ml/Tokenizer.js";
import { DigitCanvas } from "./DigitCanvas.js";

/** A form that fits a model's input codec: it renders, says whether it holds an input, and gives the values to encode. */
export interface InputForm {
  template(redraw: () => void): TemplateResult;
  /** Why there is no input yet, or null when there is one. */
  missing(): string | null;
  values(): ArrayLike<number>;
}

/** Inputs with at most this many values get a field each; larger ones a list of numbers. */
const MAX_FIELDS = 64;

/**
 * The form for `codec` (`tokenizer`: the one a text model's manifest names), or null when the page cannot build its
 * inputs: token ids without a tokenizer, or an input over `maxInlineBytes`, the market's limit for an inline input
 * (larger ones go by CID, from the tasks).
 */
export function inputFormFor(codec: InputCodec, maxInlineBytes: number, tokenizer?: WordTokenizer): InputForm | null {
  if (codec.byteLength > maxInlineBytes) return null;
  if (codec.spec.name === "int32-tokens") return tokenizer === undefined ? null : textForm(tokenizer, codec);
  const shape = codec.exampleShape;
  if (codec.spec.name === "uint8-image") {
    const channels = shape.length >= 3 ? shape[shape.length - 1] : 1;
    if (codec.byteLength === 784 && channels === 1) return digitForm();
    return imageFileForm(shape[0], shape[1] ?? 1, channels);
  }
  if (codec.spec.name === "float32-tensor") return numbersForm(codec.byteLength / 4, shape);
  return null;
}

function digitForm(): InputForm {
  const canvas = new DigitCanvas();
  return {
    template: () => html`<div class="row">
      <div>${canvas.element}</div>
      <div>
        <p><label for="digit">Or write a digit for me</label>
          <select id="digit" @change=${(e: Event) => { const v = (e.target as HTMLSelectElement).value; if (v !== "") canvas.writeDigit(Number(v)); }}>
            <option value="">choose…</option>
            ${[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((d) => html`<option value=${d}>${d}</option>`)}
          </select></p>
        <p><button type="button" @click=${() => canvas.clear()}>Clear the drawing</button></p>
      </div>
    </div>`,
    missing: () => (canvas.inked ? null : "Draw a digit (or pick one) first."),
    values: () => canvas.pixels(),
  };
}

/** An image file, scaled to the model's height × width (the whole image, aspect not kept), as bytes per channel. */
function imageFileForm(height: number, width: number, channels: number): InputForm {
  const preview = document.createElement("canvas");
  preview.width = width;
  preview.height = height;
  preview.className = "digit";
  preview.setAttribute("role", "img");
  preview.setAttribute("aria-label", `The image as the model sees it: ${width}×${height}`);
  preview.style.width = `${Math.max(width, 112)}px`;
  let bytes: Uint8Array | undefined;
  const load = async (file: File, redraw: () => void) => {
    const bitmap = await createImageBitmap(file);
    const c = preview.getContext("2d", { willReadFrequently: true })!;
    c.drawImage(bitmap, 0, 0, width, height);
    const rgba = c.getImageData(0, 0, width, height).data;
    bytes = new Uint8Array(width * height * channels);
    for (let p = 0; p < width * height; p++) {
      for (let ch = 0; ch < channels; ch++) bytes[p * channels + ch] = channels === 1 ? Math.round((rgba[p * 4] + rgba[p * 4 + 1] + rgba[p * 4 + 2]) / 3) : rgba[p * 4 + ch];
    }
    redraw();
  };
  return {
    template: (redraw) => html`<div class="row">
      <div>${preview}</div>
      <p><label for="image">Image (any size: scaled to ${width}×${height}${channels === 1 ? ", grey" : ""})</label><br />
        <input id="image" type="file" accept="image/*" @change=${(e: Event) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f !== undefined) void load(f, redraw); }} /></p>
    </div>`,
    missing: () => (bytes === undefined ? "Choose an image first." : null),
    values: () => bytes!,
  };
}

/**
 * A text, cut into words and turned into ids by the model's own tokenizer, padded by the codec (which also refuses ids
 * beyond the model's vocabulary size, as the worker would: said here, before paying).
 */
function textForm(tokenizer: WordTokenizer, codec: InputCodec): InputForm {
  const length = codec.exampleShape[0];
  let text = "";
  const encoded = (): { ids: number[]; problem?: undefined } | { ids?: undefined; problem: string } => {
    try {
      const ids = tokenizer.encode(text, length);
      codec.encode(ids);
      return { ids };
    } catch (err) {
      return { problem: `${(err as Error).message.replace(/^the text/, "The text")}.` };
    }
  };
  const summary = () => {
    const e = encoded();
    if (e.ids === undefined) return text.trim() === "" ? "" : e.problem;
    const unknown = e.ids.filter((id) => id === tokenizer.spec.unknownId).length;
    return `${e.ids.length} of ${length} words${unknown > 0 ? `, ${unknown} not in the model's vocabulary` : ""}`;
  };
  return {
    template: (redraw) => html`<p><label for="text">Text (up to ${length} words${tokenizer.spec.truncate ? "; more are cut" : ""})</label><br />
        <textarea id="text" rows="3" cols="60" @input=${(e: Event) => { text = (e.target as HTMLTextAreaElement).value; redraw(); }}></textarea><br />
        <span class="muted" data-testid="token-count">${summary()}</span></p>`,
    missing: () => {
      if (text.trim() === "") return "Type a text first.";
      return encoded().problem ?? null;
    },
    values: () => encoded().ids ?? [],
  };
}

/** One field per value (named by its position in the example's shape), or one list of numbers for large inputs. */
function numbersForm(count: number, shape: readonly number[]): InputForm {
  const values: (number | undefined)[] = new Array<number | undefined>(count).fill(undefined);
  const positionOf = (i: number) => {
    const index: number[] = [];
    let rest = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      index.unshift(rest % shape[d]);
      rest = Math.floor(rest / shape[d]);
    }
    return index.join(", ");
  };
  const read = (text: string) => (text.trim() === "" ? undefined : Number(text));
  let overflow = false;
  return {
    template: () =>
      count <= MAX_FIELDS
        ? html`<fieldset><legend>Input values (${count}, shape ${JSON.stringify(shape)})</legend>
            ${values.map((_, i) => html`<label class="value">value [${positionOf(i)}] <input type="number" step="any" @input=${(e: Event) => (values[i] = read((e.target as HTMLInputElement).value))} /></label> `)}
          </fieldset>`
        : html`<p><label for="numbers">Input: ${count} numbers (shape ${JSON.stringify(shape)}, row-major), separated by commas or spaces</label><br />
            <textarea id="numbers" rows="4" cols="60" @input=${(e: Event) => {
              const parts = (e.target as HTMLTextAreaElement).value.split(/[\s,]+/).filter((p) => p !== "");
              values.length = count;
              values.fill(undefined);
              parts.slice(0, count).forEach((p, i) => (values[i] = read(p)));
              overflow = parts.length > count;
            }}></textarea></p>`,
    missing: () => {
      const empty = values.slice(0, count).findIndex((v) => v === undefined);
      if (empty >= 0) return `Fill value [${positionOf(empty)}] first (${count} values in all).`;
      if (overflow) return `This model takes ${count} values, not more.`;
      const bad = values.findIndex((v) => !Number.isFinite(v));
      return bad >= 0 ? `Value [${positionOf(bad)}] is not a number.` : null;
    },
    values: () => values as number[],
  };
}
