import { Redis } from 'ioredis';
import { windowStartOf, type RateCounter, type WindowCounts } from './rolling-window.ts';

// One round trip: count this hit, give the count its expiry, read the previous window.
const HIT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local previous = redis.call('GET', KEYS[2])
return {current, tonumber(previous) or 0}`;

/** The counter shared by every instance, in Redis (set `REDIS_URL`). */
export class RedisRateCounter implements RateCounter {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(url: string, prefix: string) {
    this.#prefix = prefix;
    this.#redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    // Errors surface on each call; this keeps ioredis from also printing them unhandled.
    this.#redis.on('error', () => undefined);
  }

  async hit(key: string, now: number, windowMs: number): Promise<WindowCounts> {
    const start = windowStartOf(now, windowMs);
    const result = (await this.#redis.eval(
      HIT,
      2,
      `${this.#prefix}:rl:${key}:${start}`,
      `${this.#prefix}:rl:${key}:${start - windowMs}`,
      String(windowMs * 2),
    )) as [number, number];
    return { windowStart: start, current: Number(result[0]), previous: Number(result[1]) };
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
