import { expect } from "chai";
import { DatasetFormatError } from "../../../../worker/src/data/DatasetError.js";

/** Runs `run`, expecting a DatasetFormatError whose message matches; returns it for further checks. */
export function expectFormatError(run: () => unknown, message: RegExp): DatasetFormatError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, "expected a DatasetFormatError").to.be.instanceOf(DatasetFormatError);
  expect((thrown as Error).message).to.match(message);
  return thrown as DatasetFormatError;
}
