// Chaos scenarios of process faults (issue 15): the Switchboard process killed with SIGKILL
// while it accepts and delivers, and PostgreSQL cutting every connection of the instances. Each
// message carries its identity (patient MRN-<n>, its log ID from the 200), so the receiver's
// record says exactly which acknowledged message was lost, if any, not only how many arrived.
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { startSwitchboard, stop, tempDir, token, writeConfig } from '../bench/lib.ts';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../test/helpers/pg-database.ts';
import { LedgerReceiver, Senders, drain, until, type SendersOptions } from './ledger.ts';
import type { Outcome } from './scenarios.ts';

const DESTINATIONS = ['d0', 'd1', 'd2', 'd3'];
/** Acknowledged and not yet delivered before the senders wait, so they still send at each fault. */
const MAX_BACKLOG = 300;
/** Acknowledged messages between two faults (and after the last one). */
const ACKS_PER_ROUND = 200;
const SENDERS = 8;

/** A receiver a few ms away, so each destination has a delivery in flight most of the time. */
const nearbyReceiver = (): Promise<LedgerReceiver> => LedgerReceiver.start(() => 2 + Math.random() * 4);

/** A config of the given store; short leases and retries, so a fault costs seconds, not minutes. */
function faultConfig(dir: string, receiver: LedgerReceiver): string {
  return writeConfig(
    dir,
    DESTINATIONS.map((id) => ({ id, url: receiver.url(id) })),
    {
      delivery: {
        // On PostgreSQL a killed process's leases hold its queues until they expire.
        leaseMs: 2_000,
        pollIntervalMs: 100,
        retryInitialDelayMs: 50,
        retryMaxDelayMs: 500,
        shutdownGraceMs: 1_000,
      },
    },
  );
}

/** The senders of a scenario; they wait while over MAX_BACKLOG acknowledged logs are undelivered. */
function backpressured(bearer: string, receiver: LedgerReceiver, target: SendersOptions['target']): Senders {
  const senders: Senders = new Senders({
    token: bearer,
    destinations: DESTINATIONS,
    target,
    hold: () => senders.acked.size - receiver.distinct > MAX_BACKLOG,
  });
  senders.start(SENDERS);
  return senders;
}

/** Waits for ACKS_PER_ROUND more 200s and then a moment with a send and a delivery in flight. */
function midFlight(senders: Senders, receiver: LedgerReceiver): Promise<boolean> {
  const target = senders.acked.size + ACKS_PER_ROUND;
  return until(() => senders.acked.size >= target && senders.inFlight > 0 && receiver.inFlight > 0, 60_000);
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const ms = (values: number[]): string =>
  values.length === 0 ? 'none' : `${Math.round(median(values))} / ${Math.round(Math.max(...values))}`;

/** 5xx answers other than 503 (the documented "storage unavailable, nothing stored, retry"). */
const unexpected5xx = (senders: Senders): number =>
  [...senders.answers]
    .filter(([status]) => status >= 500 && status !== 503)
    .reduce((sum, [, n]) => sum + n, 0);

/**
 * The promise figures every process-fault scenario reports, and the problems they show: loss,
 * order going back, an arrival that is not the message acknowledged under its log ID.
 */
function promiseFigures(
  senders: Senders,
  receiver: LedgerReceiver,
  result: { lost: string[]; mismatched: string[] },
): { figures: Outcome['figures']; problems: string[] } {
  const acknowledged = senders.acked.size;
  const problems: string[] = [];
  if (result.lost.length > 0)
    problems.push(
      `${result.lost.length} acknowledged never delivered (${result.lost.slice(0, 5).join(', ')})`,
    );
  if (receiver.violations > 0)
    problems.push(`${receiver.violations} arrivals after a later log of their destination`);
  if (result.mismatched.length > 0)
    problems.push(
      `${result.mismatched.length} arrivals not the message acknowledged: ${result.mismatched[0]}`,
    );
  if (senders.oddAnswers.length > 0) problems.push(`a 200 with an unexpected Meta: ${senders.oddAnswers[0]}`);
  if (unexpected5xx(senders) > 0) problems.push(`${unexpected5xx(senders)} 5xx answers other than 503`);
  return {
    figures: {
      acknowledged,
      'delivered (distinct)': receiver.distinct,
      'stored without a 200 (delivered)': receiver.distinct - (acknowledged - result.lost.length),
      lost: result.lost.length,
      'order violations': receiver.violations,
      'duplicates (redelivered)': receiver.duplicates,
      answers: senders.statuses(),
    },
    problems,
  };
}

/**
 * One Switchboard process on `store`, 8 senders and 4 destinations: killed with SIGKILL while
 * requests are in flight both ways (a send not yet answered, a delivery not yet answered), and
 * restarted on the same data directory or database, `rounds` times. Every 200 must be delivered,
 * and a destination's arrivals must never go back; redeliveries are counted (at-least-once).
 */
export async function killLoop(store: 'sqlite' | 'postgres', rounds = 5): Promise<Outcome> {
  const database = store === 'postgres' ? await createTestDatabase('chaos_kill') : undefined;
  const receiver = await nearbyReceiver();
  const dir = tempDir(`chaos-kill-${store}`);
  // An empty DATABASE_URL is no database: the embedded store, whatever the runner's environment.
  const env = { DATABASE_URL: database?.url ?? '' };
  const problems: string[] = [];
  let server: { child: ChildProcess; url: string } | undefined;
  try {
    const config = faultConfig(dir.path, receiver);
    server = await startSwitchboard(config, env);
    // One token across restarts: the signing key lives in the store.
    const bearer = await token(server.url);
    // Senders that found the server dead wait here for the next one.
    let up: Promise<void> = Promise.resolve();
    const senders = backpressured(bearer, receiver, async () => {
      await up;
      return server!.url;
    });
    const atKills: string[] = [];
    const restarts: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      if (!(await midFlight(senders, receiver))) {
        problems.push(`round ${round}: no moment with sends and deliveries in flight within 60 s`);
        break;
      }
      let restarted: () => void = () => undefined;
      up = new Promise((resolve) => (restarted = resolve));
      atKills.push(`${senders.inFlight}/${receiver.inFlight}`);
      const child = server.child;
      await stop(child, 'SIGKILL');
      if (child.signalCode !== 'SIGKILL')
        problems.push(`round ${round}: exited ${child.exitCode} before the kill`);
      const killedAt = performance.now();
      server = await startSwitchboard(config, env);
      restarts.push(performance.now() - killedAt);
      restarted();
    }
    const target = senders.acked.size + ACKS_PER_ROUND;
    if (!(await until(() => senders.acked.size >= target, 60_000)))
      problems.push('no messages acknowledged after the last restart');
    await senders.stop();
    const result = await drain(senders, receiver);
    const checked = promiseFigures(senders, receiver, result);
    return {
      name: `kill -9 while sending and delivering x ${rounds}, ${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`,
      figures: {
        kills: atKills.length,
        ...checked.figures,
        'connection errors (cut by the kills)': senders.connectionErrors,
        'in flight at the kills (sends/deliveries)': atKills.join(' '),
        'restart to healthy (ms, median / max)': ms(restarts),
      },
      problems: [...problems, ...checked.problems],
    };
  } finally {
    if (server) await stop(server.child, 'SIGKILL');
    await receiver.close();
    dir.remove();
    await database?.drop();
  }
}

/** Terminates every connection to the database but the caller's; how many it cut. */
async function cutConnections(admin: pg.Client, database: TestDatabase): Promise<number> {
  const name = new URL(database.url).pathname.slice(1);
  const cut = await admin.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [name],
  );
  return cut.rowCount ?? 0;
}

/**
 * Two instances on one PostgreSQL database, messages sent through both; `rounds` times, while
 * sends and deliveries are in flight, PostgreSQL terminates every connection of theirs (pool and
 * LISTEN). A request may then get a 503 (nothing stored, retry) but never a 500; no process may
 * exit; every 200 is delivered in order. Recovery: from the cut to the first 200 of a request
 * sent after it, and to the first arrival after it (a delivery sent once an attempt was
 * recorded on a new connection).
 */
export async function terminatedConnections(rounds = 10): Promise<Outcome> {
  const database = await createTestDatabase('chaos_terminate');
  const receiver = await nearbyReceiver();
  const dir = tempDir('chaos-terminate');
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  const instances: { child: ChildProcess; url: string }[] = [];
  const exits: string[] = [];
  let stopping = false;
  const problems: string[] = [];
  try {
    await admin.connect();
    const config = faultConfig(dir.path, receiver);
    for (let i = 0; i < 2; i++) {
      const instance = await startSwitchboard(config, { DATABASE_URL: database.url });
      instance.child.once('exit', (code, signal) => {
        if (!stopping) exits.push(`instance ${i}: ${signal ?? `code ${code}`}`);
      });
      instances.push(instance);
    }
    const senders = backpressured(
      await token(instances[0]!.url),
      receiver,
      (n) => instances[n % instances.length]!.url,
    );
    let cut = 0;
    const toAck: number[] = [];
    const toDelivery: number[] = [];
    for (let round = 1; round <= rounds && exits.length === 0; round++) {
      if (!(await midFlight(senders, receiver))) {
        problems.push(`round ${round}: no moment with sends and deliveries in flight within 60 s`);
        break;
      }
      cut += await cutConnections(admin, database);
      const cutAt = performance.now();
      const firstAck = (): number | undefined => {
        let first: number | undefined;
        for (const ack of senders.acked.values())
          if (ack.sentAt >= cutAt && (first === undefined || ack.ackedAt < first)) first = ack.ackedAt;
        return first;
      };
      const firstArrival = (): number | undefined => receiver.arrivedAt.find((at) => at > cutAt);
      const recovered = await until(
        () => firstAck() !== undefined && firstArrival() !== undefined,
        30_000,
        20,
      );
      if (!recovered) {
        problems.push(`round ${round}: no 200 and delivery within 30 s of the cut`);
        break;
      }
      toAck.push(firstAck()! - cutAt);
      toDelivery.push(firstArrival()! - cutAt);
    }
    const target = senders.acked.size + ACKS_PER_ROUND;
    if (!(await until(() => senders.acked.size >= target || exits.length > 0, 60_000)))
      problems.push('no messages acknowledged after the last cut');
    await senders.stop();
    const result = await drain(senders, receiver);
    const checked = promiseFigures(senders, receiver, result);
    if (exits.length > 0) problems.push(`a server process exited: ${exits.join(', ')}`);
    return {
      name: `PostgreSQL terminates every connection x ${rounds}, two instances`,
      figures: {
        cuts: toAck.length,
        'connections cut': cut,
        ...checked.figures,
        '5xx other than 503': unexpected5xx(senders),
        'cut to first 200 (ms, median / max)': ms(toAck),
        'cut to first delivery (ms, median / max)': ms(toDelivery),
        'processes exited': exits.length,
      },
      problems: [...problems, ...checked.problems],
    };
  } finally {
    stopping = true;
    for (const instance of instances) await stop(instance.child);
    await admin.end().catch(() => undefined);
    await receiver.close();
    dir.remove();
    await database.drop();
  }
}
