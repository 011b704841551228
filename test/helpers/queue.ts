/** Removes every BullMQ job and key a test created under its own prefix (all the worker's queues). */
export { removeQueueData } from "../../worker/src/queue/removeQueueData.js";
