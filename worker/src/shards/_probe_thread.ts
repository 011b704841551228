import { parentPort } from "node:worker_threads";
import { selectBackend } from "../ml/backend.js";
const b = await selectBackend("wasm");
parentPort!.postMessage({ backend: b.name });
