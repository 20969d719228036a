import type { Clock } from '../lib/clock.ts';
import type { QueueRef, QueueStore } from '../store/roles/queue-store.ts';

/** How one key's turn ended: go on with other keys ('next'), or stop the whole queue ('stop'). */
export type LaneEnd = 'next' | 'stop';

export interface KeyLanesInput {
  queues: QueueStore;
  queue: QueueRef;
  clock: Clock;
  /** Read at each pass, so a `maxInFlight` changed through the API applies at once. */
  maxInFlight: () => number;
  /** True once the dispatcher stops: no new key starts. */
  stopping: () => boolean;
  /** Delivers a key's due head logs, in order, until one must wait or the turn is over. */
  runKey: (key: string) => Promise<LaneEnd>;
  /** Resolves when new work may be there (a message accepted, a NOTIFY); cancelled by its signal. */
  woken: (signal: AbortSignal) => Promise<void>;
  /** Longest wait between two looks at the keys (a lost wake-up costs at most this). */
  pollIntervalMs: number;
}

/**
 * Runs a leased queue's ordering keys (SPEC 5.2): each key is a lane that delivers its own logs
 * one at a time in sequence order, and up to `maxInFlight` lanes run at once. Keys are taken in
 * the order their heads are due, from an index of keys (`dueKeys`), leaving out the keys in
 * flight; a blocked key's head is due only at its next retry, so its backlog is never read and
 * never holds a slot. Resolves once no key is in flight and none is due ('next': the queue can
 * be given back; the claim loop takes it again when a key is due), or, after a lane said 'stop'
 * (paused, lease lost, shutting down), once the lanes in flight have ended.
 */
export async function runKeyLanes(input: KeyLanesInput): Promise<LaneEnd> {
  const { queues, queue, clock } = input;
  const lanes = new Map<string, Promise<void>>();
  let end: LaneEnd = 'next';
  let ended = 0;
  let changed: (() => void) | undefined;
  const start = (key: string): void => {
    const lane = input
      .runKey(key)
      .then(
        (step) => {
          if (step === 'stop') end = 'stop';
        },
        () => {
          end = 'stop';
        },
      )
      .finally(() => {
        lanes.delete(key);
        ended++;
        changed?.();
      });
    lanes.set(key, lane);
  };
  for (;;) {
    const endedBefore = ended;
    if (input.stopping()) end = 'stop';
    const free = input.maxInFlight() - lanes.size;
    let nextDue: number | null = null;
    if (end === 'next' && free > 0) {
      // One more than there is room for: when it is not due yet, it says when to look again.
      const keys = await queues.dueKeys(queue, free + 1, [...lanes.keys()]);
      const now = clock.now();
      for (const { key, dueAt } of keys) {
        if (dueAt > now) {
          nextDue = dueAt;
          break;
        }
        if (lanes.size < input.maxInFlight() && !lanes.has(key)) start(key);
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
}
