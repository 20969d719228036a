// The stall of issue 15, shared by its chaos scenario (chaos/scenarios.ts, 3 long rounds) and
// its bounded test (test/scale/stall.test.ts, one round): two instances on one PostgreSQL
// database, one frozen with SIGSTOP past its lease while it delivers a backlog, then resumed.
// A resumed instance that sent the attempts it held before the freeze, after the other instance
// had taken its queues over and delivered later logs, would show as order violations.
import type { ChildProcess } from 'node:child_process';
import { startSwitchboard, stop, tempDir, token, writeConfig } from '../bench/lib.ts';
import { LedgerReceiver, Senders, drain, sleep, until } from './ledger.ts';

export interface StallOptions {
  databaseUrl: string;
  rounds: number;
  destinations: number;
  /** Messages sent through the instance to be frozen before the first freeze. */
  backlog: number;
  /** How far away the receivers are (ms per answer): longer keeps the backlog in flight. */
  delayMs: number;
  leaseMs?: number;
  freezeMs?: number;
  /** Time between a resume and the next freeze (and after the last). */
  resumedMs?: number;
  /** How long to wait, at most, for the last acknowledged messages to arrive. */
  drainMs?: number;
}

export interface StallResult {
  acknowledged: number;
  /** Distinct logs that arrived. */
  delivered: number;
  /** Arrivals of a log that had arrived before. */
  duplicates: number;
  violations: number;
  lost: string[];
  mismatched: string[];
  statuses: string;
  /** Per freeze: acknowledged and not yet delivered, and deliveries in flight, when it froze. */
  atFreeze: { backlog: number; inFlight: number }[];
  /** Per freeze: arrivals while it lasted (the other instance took the queues over). */
  duringFreeze: number[];
}

export async function frozenInstance(options: StallOptions): Promise<StallResult> {
  const {
    rounds,
    delayMs,
    leaseMs = 3_000,
    freezeMs = 7_000,
    resumedMs = 3_000,
    drainMs = 120_000,
  } = options;
  const receiver = await LedgerReceiver.start(() => delayMs);
  const dir = tempDir('chaos-stall');
  const children: ChildProcess[] = [];
  try {
    const destinations = Array.from({ length: options.destinations }, (_, i) => `d${i}`);
    const config = writeConfig(
      dir.path,
      destinations.map((id) => ({ id, url: receiver.url(id) })),
      { delivery: { leaseMs, pollIntervalMs: 200 } },
    );
    const env = { DATABASE_URL: options.databaseUrl };
    const a = await startSwitchboard(config, env);
    children.push(a.child);
    const b = await startSwitchboard(config, env);
    children.push(b.child);
    const bearer = await token(b.url);
    // The backlog goes through the instance to be frozen: its own wake-up makes it claim the
    // queues first, so it is mid-delivery when it freezes.
    const backlog = new Senders({ token: bearer, destinations, target: () => a.url, count: options.backlog });
    backlog.start(32);
    await backlog.finished();
    // Then a trickle through the other instance, so the queues keep getting later logs.
    const trickle = new Senders({
      token: bearer,
      destinations,
      target: () => b.url,
      from: options.backlog,
      pauseMs: 5,
    });
    trickle.start(1);
    const acknowledged = (): number => backlog.acked.size + trickle.acked.size;
    const atFreeze: StallResult['atFreeze'] = [];
    const duringFreeze: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Frozen with a delivery in flight (whichever instance sent it): an attempt held.
      await until(() => receiver.inFlight > 0, 10_000);
      atFreeze.push({ backlog: acknowledged() - receiver.distinct, inFlight: receiver.inFlight });
      a.child.kill('SIGSTOP');
      const before = receiver.arrivals;
      await sleep(freezeMs);
      duringFreeze.push(receiver.arrivals - before);
      a.child.kill('SIGCONT');
      await sleep(resumedMs);
    }
    await trickle.stop();
    const { lost, mismatched } = await drain([backlog, trickle], receiver, drainMs);
    return {
      acknowledged: acknowledged(),
      delivered: receiver.distinct,
      duplicates: receiver.duplicates,
      violations: receiver.violations,
      lost,
      mismatched,
      statuses: [backlog.statuses(), trickle.statuses()].join('; '),
      atFreeze,
      duringFreeze,
    };
  } finally {
    for (const child of children) {
      child.kill('SIGCONT');
      await stop(child);
    }
    await receiver.close();
    dir.remove();
  }
}
