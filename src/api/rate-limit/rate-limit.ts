import type { FastifyRequest } from 'fastify';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { ApiError } from '../../errors.ts';
import { evaluate, type RateCounter } from './rolling-window.ts';

export interface RateLimitSettings {
  limit: number;
  windowMs: number;
}

/** Paths that are never limited: probes must answer when the rest is under load. */
const EXEMPT = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Limits requests per client IP over a rolling window (SPEC 2.4: 7,500 per 5 minutes). The
 * server-wide limit applies to every request; an organization may set a lower one for its own
 * authenticated traffic. If the counter itself fails (Redis down), requests are let through
 * and the failure is logged: the limit protects the service, it must not take it down.
 */
export class RateLimiter {
  readonly #counter: RateCounter;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #global: RateLimitSettings;

  constructor(deps: { counter: RateCounter; clock: Clock; logger: Logger; global: RateLimitSettings }) {
    this.#counter = deps.counter;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#global = deps.global;
  }

  /** onRequest hook: the server-wide limit. */
  readonly onRequest = async (request: FastifyRequest): Promise<void> => {
    if (EXEMPT.has(request.url.split('?')[0] ?? '')) return;
    await this.#check(`ip:${request.ip}`, this.#global);
  };

  /** After authentication: the organization's own limit, when it has one. */
  async checkOrganization(request: FastifyRequest, orgId: string, limit: number | undefined): Promise<void> {
    if (limit === undefined) return;
    await this.#check(`org:${orgId}:ip:${request.ip}`, { limit, windowMs: this.#global.windowMs });
  }

  async #check(key: string, settings: RateLimitSettings): Promise<void> {
    const now = this.#clock.now();
    let decision;
    try {
      decision = evaluate(
        settings.limit,
        settings.windowMs,
        now,
        await this.#counter.hit(key, now, settings.windowMs),
      );
    } catch (error) {
      this.#logger.warn({ err: error }, 'rate limit: counter unavailable; request let through');
      return;
    }
    if (!decision.allowed)
      throw new ApiError('RATE_LIMITED', 'Too many requests; retry after the time in Retry-After', {
        headers: { 'retry-after': String(decision.retryAfterSeconds) },
      });
  }

  close(): Promise<void> {
    return this.#counter.close();
  }
}
