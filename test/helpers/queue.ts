import { createQueue } from "../../worker/src/queue/QueueFactory.js";
import { QueueNames } from "../../worker/src/queue/QueueNames.js";
import { createRedisConnection } from "../../worker/src/redis/RedisConnection.js";

/** Removes every BullMQ job and key a test created under its own prefix. */
export async function removeQueueData(redisUrl: string, prefix: string): Promise<void> {
  const redis = createRedisConnection(redisUrl);
  try {
    const queue = createQueue(QueueNames.chainEvents, redis, { prefix });
    await queue.obliterate({ force: true });
    await queue.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}
