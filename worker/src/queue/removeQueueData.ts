import { createRedisConnection } from "../redis/RedisConnection.js";
import { createQueue } from "./QueueFactory.js";
import { QueueNames } from "./QueueNames.js";

/**
 * Removes every BullMQ job of every worker queue and every other key (cursors, commit records,
 * accepted samples) under each prefix: an embedded run's or a test's state dies with its chain.
 */
export async function removeQueueData(redisUrl: string, prefixes: string | readonly string[]): Promise<void> {
  const redis = createRedisConnection(redisUrl);
  try {
    for (const prefix of typeof prefixes === "string" ? [prefixes] : prefixes) {
      for (const name of Object.values(QueueNames)) {
        const queue = createQueue(name, redis, { prefix });
        await queue.obliterate({ force: true });
        await queue.close();
      }
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    await redis.quit();
  }
}
