import { createQueue } from "../../worker/src/queue/QueueFactory.js";
import { QueueNames } from "../../worker/src/queue/QueueNames.js";
import { createRedisConnection } from "../../worker/src/redis/RedisConnection.js";

/** Removes every BullMQ job and key a test created under its own prefix (all the worker's queues). */
export async function removeQueueData(redisUrl: string, prefix: string): Promise<void> {
  const redis = createRedisConnection(redisUrl);
  try {
    for (const name of Object.values(QueueNames)) {
      const queue = createQueue(name, redis, { prefix });
      await queue.obliterate({ force: true });
      await queue.close();
    }
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}
