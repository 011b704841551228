/**
 * A square canvas a person draws a digit on (white on black, as MNIST), read back as `side`×`side` grey bytes.
 * Keyboard users (and tests) pick a digit instead: it is written on the canvas in a plain typeface.
 */
export class DigitCanvas {
  readonly element: HTMLCanvasElement;
  readonly #context: CanvasRenderingContext2D;
  #drawing = false;
  #inked = false;

  constructor(readonly side = 28, readonly scale = 10) {
    this.element = document.createElement("canvas");
    this.element.width = side * scale;
    this.element.height = side * scale;
    this.element.className = "digit";
    this.element.tabIndex = 0;
    this.element.setAttribute("role", "img");
    this.element.setAttribute("aria-label", "Drawing area for a digit: draw with a mouse, pen or finger, or pick a digit below");
    this.#context = this.element.getContext("2d", { willReadFrequently: true })!;
    this.clear();
    this.element.addEventListener("pointerdown", (e) => {
      this.#drawing = true;
      this.element.setPointerCapture(e.pointerId);
      this.#context.beginPath();
      this.#context.moveTo(e.offsetX, e.offsetY);
    });
    this.element.addEventListener("pointermove", (e) => {
      if (!this.#drawing) return;
      this.#context.lineTo(e.offsetX, e.offsetY);
      this.#context.stroke();
      this.#inked = true;
    });
    const stop = () => (this.#drawing = false);
    this.element.addEventListener("pointerup", stop);
    this.element.addEventListener("pointercancel", stop);
  }

  get inked(): boolean {
    return this.#inked;
  }

  clear(): void {
    const c = this.#context;
    c.fillStyle = "#000";
    c.fillRect(0, 0, this.element.width, this.element.height);
    c.strokeStyle = "#fff";
    c.lineWidth = this.scale * 2.2;
    c.lineCap = "round";
    c.lineJoin = "round";
    this.#inked = false;
  }

  /** Writes `digit` in the middle, about as tall as MNIST's digits (20 of 28 rows). */
  writeDigit(digit: number): void {
    this.clear();
    const c = this.#context;
    c.fillStyle = "#fff";
    c.font = `bold ${Math.round(this.element.height * 0.72)}px sans-serif`;
    c.textAlign = "center";
    c.textBaseline = "middle";
    c.fillText(String(digit), this.element.width / 2, this.element.height / 2 + this.element.height * 0.03);
    this.#inked = true;
  }

  /**
   * The drawing as `side`×`side` grey bytes, row-major, prepared as MNIST's digits were: the ink's bounding box
   * scaled to fit 20×20 (aspect kept, smoothed), then placed so that its centre of mass is the image's centre.
   */
  pixels(): Uint8Array {
    const { width, height } = this.element;
    const full = this.#context.getImageData(0, 0, width, height).data;
    let [left, top, right, bottom] = [width, height, -1, -1];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (full[(y * width + x) * 4] < 32) continue;
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
    if (right < 0) return new Uint8Array(this.side * this.side);
    const box = Math.round((this.side * 20) / 28);
    const fit = box / Math.max(right - left + 1, bottom - top + 1);
    const [w, h] = [Math.max(1, Math.round((right - left + 1) * fit)), Math.max(1, Math.round((bottom - top + 1) * fit))];
    // Scaled ink, then its centre of mass.
    const scaled = this.#canvas(w, h);
    scaled.drawImage(this.element, left, top, right - left + 1, bottom - top + 1, 0, 0, w, h);
    const ink = scaled.getImageData(0, 0, w, h).data;
    let [mass, mx, my] = [0, 0, 0];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = ink[(y * w + x) * 4];
        mass += v;
        mx += v * x;
        my += v * y;
      }
    }
    const [cx, cy] = mass === 0 ? [w / 2, h / 2] : [mx / mass, my / mass];
    const out = this.#canvas(this.side, this.side);
    out.fillStyle = "#000";
    out.fillRect(0, 0, this.side, this.side);
    out.drawImage(scaled.canvas, Math.round(this.side / 2 - cx), Math.round(this.side / 2 - cy));
    const rgba = out.getImageData(0, 0, this.side, this.side).data;
    const bytes = new Uint8Array(this.side * this.side);
    for (let i = 0; i < bytes.length; i++) bytes[i] = rgba[i * 4];
    return bytes;
  }

  #canvas(width: number, height: number): CanvasRenderingContext2D {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const c = canvas.getContext("2d", { willReadFrequently: true })!;
    c.imageSmoothingEnabled = true;
    c.imageSmoothingQuality = "high";
    return c;
  }
}
