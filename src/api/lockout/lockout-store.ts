import { Redis } from 'ioredis';
import type { LockoutState } from './lockout-policy.ts';

/** Where failed sign-ins are counted: in memory, or in Redis for every instance at once. */
export interface LockoutStore {
  get(key: string): Promise<LockoutState | undefined>;
  set(key: string, state: LockoutState, keepMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** One process's counts; subjects not seen for their keep time are swept. */
export class MemoryLockoutStore implements LockoutStore {
  readonly #states = new Map<string, { state: LockoutState; until: number }>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  async get(key: string): Promise<LockoutState | undefined> {
    const entry = this.#states.get(key);
    if (entry && entry.until <= this.#now()) this.#states.delete(key);
    return this.#states.get(key)?.state;
  }

  async set(key: string, state: LockoutState, keepMs: number): Promise<void> {
    const now = this.#now();
    if (this.#states.size > 10_000)
      for (const [k, e] of this.#states) if (e.until <= now) this.#states.delete(k);
    this.#states.set(key, { state, until: now + keepMs });
  }

  async delete(key: string): Promise<void> {
    this.#states.delete(key);
  }

  async close(): Promise<void> {
    this.#states.clear();
  }
}

/** Counts shared by every instance (set `REDIS_URL`), each subject one key with its expiry. */
export class RedisLockoutStore implements LockoutStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(url: string, prefix: string) {
    this.#prefix = `${prefix}:lockout:`;
    this.#redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.#redis.on('error', () => undefined);
  }

  async get(key: string): Promise<LockoutState | undefined> {
    const text = await this.#redis.get(this.#prefix + key);
    return text ? (JSON.parse(text) as LockoutState) : undefined;
  }

  async set(key: string, state: LockoutState, keepMs: number): Promise<void> {
    await this.#redis.set(this.#prefix + key, JSON.stringify(state), 'PX', Math.max(1, Math.ceil(keepMs)));
  }

  async delete(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key);
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
