import { render, type TemplateResult } from "lit-html";
import type { AppContext } from "./AppContext.js";

/**
 * One visit of one page: it draws and reports only while it is the page being shown. A slow read that ends after
 * the person moved on draws nothing and says nothing; a page's loops stop once `current` is false.
 */
export class PageScope {
  #current = true;

  constructor(
    readonly ctx: AppContext,
    readonly container: HTMLElement,
  ) {}

  get current(): boolean {
    return this.#current;
  }

  leave(): void {
    this.#current = false;
  }

  render(template: TemplateResult): void {
    if (this.#current) render(template, this.container);
  }

  report(err: unknown): void {
    if (this.#current) this.ctx.report(err);
  }
}
