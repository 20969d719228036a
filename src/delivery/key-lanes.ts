import type { Clock } from '../lib/clock.ts';
import type { QueueRef, QueueStore } from '../store/roles/queue-store.ts';

/** How one key's turn ended: go on with other keys ('next'), or stop the whole queue ('stop'). */
export type LaneEnd = 'next' | 'stop';

export interface KeyLanesInput {
  queues: QueueStore;
  queue: QueueRef;
  /** The lease holder: keys are read only while it holds the queue and the queue is not paused. */
  owner: string;
  clock: Clock;
  /** Read at each pass, so a `maxInFlight` changed through the API applies at once. */
  maxInFlight: () => number;
  /** True once the dispatcher stops: no new key starts. */
  stopping: () => boolean;
  /** Delivers up to `turn` due head logs of a key, in order, until one must wait. */
  runKey: (key: string, turn: number) => Promise<LaneEnd>;
  /** Resolves when new work may be there (a message accepted, a NOTIFY); cancelled by its signal. */
  woken: (signal: AbortSignal) => Promise<void>;
  /** Told of a lane that failed (its error is not the queue's end: the others finish first). */
  onLaneError: (key: string, error: unknown) => void;
  /** Longest wait between two looks at the keys (a lost wake-up costs at most this). */
  pollIntervalMs: number;
}

/** Logs a key delivers in a row before its lane gives other due keys a turn. */
export const KEY_TURN = 8;

/**
 * Runs a leased queue's ordering keys (SPEC 5.2): each key is a lane that delivers its own logs
 * one at a time in sequence order, and up to `maxInFlight` lanes run at once. Keys are taken in
 * the order their heads are due, from an index of keys (`dueKeys`), leaving out the keys in
 * flight; a blocked key's head is due only at its next retry, so its backlog is never read and
 * never holds a slot. With `maxInFlight` 1 the destination is strictly FIFO, as without a key:
 * the key of its oldest log goes next, one log at a time, and waits when that log does.
 * Resolves once no key is in flight and none is due ('next': the queue can be given back; the
 * claim loop takes it again when a key is due), or, after a lane said 'stop' (paused, lease lost,
 * shutting down) or failed, once every lane in flight has ended: a queue is never given back
 * with one of its keys still in flight, so no key ever has two logs in flight.
 */
export async function runKeyLanes(input: KeyLanesInput): Promise<LaneEnd> {
  const { queues, queue, clock } = input;
  const lanes = new Map<string, Promise<void>>();
  let end: LaneEnd = 'next';
  let ended = 0;
  let changed: (() => void) | undefined;
  const start = (key: string, turn: number): void => {
    const lane = input
      .runKey(key, turn)
      .then(
        (step) => {
          if (step === 'stop') end = 'stop';
        },
        (error: unknown) => {
          end = 'stop';
          input.onLaneError(key, error);
        },
      )
      .finally(() => {
        lanes.delete(key);
        ended++;
        changed?.();
      });
    lanes.set(key, lane);
  };
  try {
    for (;;) {
      const endedBefore = ended;
      if (input.stopping()) end = 'stop';
      const max = input.maxInFlight();
      const free = max - lanes.size;
      let nextDue: number | null = null;
      if (end === 'next' && free > 0) {
        const strict = max === 1;
        // One more than there is room for: when it is not due yet, it says when to look again.
        const keys = await queues.dueKeys(queue, input.owner, {
          limit: strict ? 1 : free + 1,
          exclude: [...lanes.keys()],
          order: strict ? 'oldest' : 'due',
        });
        const now = clock.now();
        for (const { key, dueAt } of keys) {
          if (dueAt > now) {
            nextDue = dueAt;
            break;
          }
          if (lanes.size < max && !lanes.has(key)) start(key, strict ? 1 : KEY_TURN);
        }
      }
      if (lanes.size === 0) return end;
      if (ended !== endedBefore) continue; // a lane ended while the keys were read: look again
      // Wait for a lane to end, for new work, or for the next key to come due.
      const wait = new AbortController();
      const wakes = [
        new Promise<void>((resolve) => {
          changed = resolve;
        }),
        input.woken(wait.signal),
      ];
      if (end === 'next' && (free > 0 || nextDue !== null)) {
        const ms =
          nextDue === null ? input.pollIntervalMs : Math.min(nextDue - clock.now(), input.pollIntervalMs);
        wakes.push(clock.sleep(Math.max(0, ms), wait.signal));
      }
      await Promise.race(wakes);
      changed = undefined;
      wait.abort();
    }
  } catch (error) {
    // Reading the keys failed: the lanes in flight end before the queue is given back.
    await Promise.allSettled([...lanes.values()]);
    throw error;
  }
}

/** Where keyed runners wait for new work of their queue (`KeyLanesInput.woken`). */
export class KeyWakeups {
  readonly #waiting = new Map<string, Set<() => void>>();

  /** Resolves at the next `wake` of `queue` (or of every queue), or when `signal` aborts. */
  wait(queue: QueueRef, signal: AbortSignal): Promise<void> {
    const name = queueName(queue);
    return new Promise<void>((resolve) => {
      const wakes = this.#waiting.get(name) ?? new Set<() => void>();
      this.#waiting.set(name, wakes);
      const wake = (): void => {
        wakes.delete(wake);
        if (wakes.size === 0 && this.#waiting.get(name) === wakes) this.#waiting.delete(name);
        resolve();
      };
      wakes.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  /** Wakes the runners of `queues`, or of every queue when none is named. */
  wake(queues?: readonly QueueRef[]): void {
    const waiting =
      queues === undefined
        ? [...this.#waiting.values()]
        : queues.map((q) => this.#waiting.get(queueName(q))).filter((w) => w !== undefined);
    for (const wakes of waiting) for (const wake of [...wakes]) wake();
  }
}

export function queueName(queue: QueueRef): string {
  return `${queue.orgId}\u0000${queue.destinationId}`;
}
