import { expect } from "chai";
import { createLogger, withContext } from "../../../worker/src/logger.js";

describe("logger", () => {
  it("children carry job, request, tx and block context as JSON", () => {
    const lines: string[] = [];
    const root = createLogger({ name: "test", level: "debug", destination: { write: (line: string) => lines.push(line) } });
    const child = withContext(root, { jobId: "0xabc-1", requestId: 42n, txHash: "0xdef", blockNumber: 7, ignored: undefined });
    child.debug({ attempt: 2 }, "processing");
    root.trace("dropped below the level");

    expect(lines).to.have.length(1);
    const record = JSON.parse(lines[0]);
    expect(record).to.include({ name: "test", msg: "processing", jobId: "0xabc-1", requestId: "42", txHash: "0xdef", blockNumber: 7, attempt: 2 });
    expect(record).not.to.have.property("ignored");
  });
});
