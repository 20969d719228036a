import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ehrToken, freePort } from '../helpers/child-server.ts';
import { PLATFORM_KEY, harnessConfigFile, patientAdmin } from '../helpers/harness.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-database.ts';
import { SlowReceiver } from '../helpers/slow-receiver.ts';
import { settle, waitFor } from '../helpers/wait.ts';

/**
 * Scale-out (SPEC 7): three instances on one PostgreSQL database share acceptance and delivery.
 * 2,000 messages over 20 destinations are sent through all three while one instance is killed
 * with SIGKILL and restarted twice. Every acknowledged message must be delivered, each
 * destination must get its logs in acceptance order, at most one request may be in flight at a
 * destination at any moment, and the only duplicates allowed are logs that were in flight at a
 * kill (their leases expire and another instance delivers them again).
 */

const ROOT = join(import.meta.dirname, '../..');
const INSTANCES = 3;
const DESTINATIONS = 20;
const MESSAGES = 2_000;
const SENDERS = 9;
const KILLS = 2;
/** The victim's leases expire after this; the others then take its queues over. */
const LEASE_MS = 2_000;

const dir = mkdtempSync(join(tmpdir(), 'switchboard-scale-'));
const children = new Set<ChildProcess>();
let receivers: SlowReceiver[] = [];
let database: TestDatabase | undefined;
let output = '';

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(receivers.map((r) => r.close()));
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

interface Instance {
  name: string;
  url: string;
  configFile: string;
  process?: ChildProcess;
  exited?: Promise<void>;
}

async function start(instance: Instance, databaseUrl: string): Promise<void> {
  const ignored = new Set(['PORT', 'HOST', 'DATA_DIR', 'LOG_LEVEL', 'NODE_TEST_CONTEXT', 'REDIS_URL']);
  const proc = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !ignored.has(name))),
      SWITCHBOARD_CONFIG: instance.configFile,
      DATABASE_URL: databaseUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const tag = (c: Buffer): void => {
    output += c
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((line) => `[${instance.name}] ${line}\n`)
      .join('');
  };
  proc.stdout.on('data', tag);
  proc.stderr.on('data', tag);
  instance.process = proc;
  instance.exited = new Promise((resolve) =>
    proc.on('exit', () => {
      children.delete(proc);
      resolve();
    }),
  );
  await waitFor(
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`${instance.name} exited during start-up:\n${output.slice(-4_000)}`);
      try {
        return (await fetch(`${instance.url}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok;
      } catch {
        return false;
      }
    },
    20_000,
    `${instance.name} to answer /healthz`,
  );
}

/** What the receivers had seen when the victim was killed. */
interface Kill {
  /** Per receiver: how many requests had arrived when the kill was sent. */
  arrived: number[];
  /** Per receiver: how many had arrived once the victim was dead and its last bytes were read. */
  drained: number[];
  /** Log IDs of the requests that were at a receiver, not yet answered, when the kill was sent. */
  inFlight: Set<string>;
}

const logIdOf = (r: { headers: Record<string, unknown> }): string =>
  String(r.headers['x-switchboard-log-id']);

interface Sent {
  n: number;
  sender: number;
  destination: string;
  logId: string;
}

test(
  'three instances on one PostgreSQL, one killed and restarted twice: every acknowledged message delivered, FIFO per destination',
  { timeout: 180_000 },
  async (t) => {
    database = await createTestDatabase('scale');
    receivers = await Promise.all(
      Array.from({ length: DESTINATIONS }, () => SlowReceiver.start(() => 1 + Math.floor(Math.random() * 3))),
    );
    const instances: Instance[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      const port = await freePort();
      const configFile = join(dir, `instance-${i}.json`);
      writeFileSync(
        configFile,
        JSON.stringify(
          harnessConfigFile(
            {
              destinations: receivers.map((r, d) => ({ id: `dest${d}`, url: r.url })),
              server: { port, logLevel: 'warn' },
              delivery: {
                leaseMs: LEASE_MS,
                pollIntervalMs: 500,
                retryInitialDelayMs: 50,
                retryMaxDelayMs: 500,
                shutdownGraceMs: 1_000,
              },
            },
            { dataDir: join(dir, `data-${i}`), databaseUrl: database.url },
          ),
        ),
      );
      instances.push({ name: `instance-${i}`, url: `http://127.0.0.1:${port}`, configFile });
    }
    // All three start at once: their migrations must not trip over each other.
    await Promise.all(instances.map((instance) => start(instance, database!.url)));

    try {
      // One token for every instance: the signing key is shared through the database.
      const token = await ehrToken(instances[0]!.url);

      const acked: Sent[] = [];
      const bySender: Sent[][] = Array.from({ length: SENDERS }, () => []);
      const otherAnswers: string[] = [];
      let connectionErrors = 0;
      let next = 1;
      const sendLoop = async (sender: number): Promise<void> => {
        while (next <= MESSAGES) {
          const n = next++;
          const destination = `dest${n % DESTINATIONS}`;
          const body = patientAdmin(n, { Destinations: [{ ID: destination }] });
          // Round robin over the instances; a dead one is a connection error and the message is
          // sent again through the next (a new message: the first was never acknowledged).
          for (let tries = 0; ; tries++) {
            const instance = instances[(n + tries) % INSTANCES]!;
            let answer: Response;
            let text: string;
            try {
              answer = await fetch(`${instance.url}/endpoint`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
                body: JSON.stringify(body),
                signal: AbortSignal.timeout(10_000),
              });
              text = await answer.text();
            } catch {
              connectionErrors++;
              await settle(5);
              continue;
            }
            if (answer.status !== 200) {
              otherAnswers.push(`${answer.status} ${text}`);
              break;
            }
            const meta = (JSON.parse(text) as { Meta: { Logs: { ID: string }[] } }).Meta;
            const sent = { n, sender, destination, logId: meta.Logs[0]!.ID };
            acked.push(sent);
            bySender[sender]!.push(sent);
            break;
          }
        }
      };
      const started = Date.now();
      const senders = Promise.all(Array.from({ length: SENDERS }, (_, s) => sendLoop(s)));

      // Kill instance 1 twice while messages flow and deliveries are in flight; restart it each time.
      const victim = instances[1]!;
      const killsAt: number[] = [];
      const kills: Kill[] = [];
      for (let kill = 1; kill <= KILLS; kill++) {
        const target = Math.floor((MESSAGES * kill) / (KILLS + 1));
        await waitFor(
          () => acked.length >= target && receivers.some((r) => r.inFlight > 0),
          60_000,
          `${target} acknowledged messages with a delivery in flight`,
        );
        victim.process!.kill('SIGKILL');
        killsAt.push(acked.length);
        const arrived = receivers.map((r) => r.received.length);
        const inFlight = new Set(receivers.flatMap((r) => r.inFlightLogIds()));
        await victim.exited;
        // A request the victim wrote just before it died is in this process's socket buffers and
        // may be read only now; the victim's queues get nothing else until its leases expire.
        await settle(100);
        await new Promise((resolve) => setImmediate(resolve));
        kills.push({ arrived, inFlight, drained: receivers.map((r) => r.received.length) });
        await start(victim, database.url);
      }
      await senders;
      const sentSeconds = (Date.now() - started) / 1_000;
      assert.deepEqual(otherAnswers, [], 'only 200 answers');
      assert.equal(acked.length, MESSAGES);

      const delivered = (s: Sent): boolean =>
        receivers[Number(s.destination.slice(4))]!.received.some(
          (r) => r.headers['x-switchboard-log-id'] === s.logId,
        );
      await waitFor(() => acked.every(delivered), 60_000, 'every acknowledged log to be delivered');
      const deliveredSeconds = (Date.now() - started) / 1_000;

      // One request in flight per destination at any moment, across all instances (the lease).
      assert.deepEqual(
        receivers.flatMap((r, d) => (r.maxInFlight > 1 ? [`dest${d}: ${r.maxInFlight} at once`] : [])),
        [],
        'at most one request in flight per destination',
      );

      // Nothing stays pending, seen from any instance.
      await waitFor(
        async () => {
          const res = await fetch(`${instances[2]!.url}/platform/v1/logs?status=pending&limit=1`, {
            headers: { authorization: `Bearer ${PLATFORM_KEY}` },
          });
          return ((await res.json()) as { logs: unknown[] }).logs.length === 0;
        },
        30_000,
        'no pending logs',
      );

      const logOf = new Map(acked.map((s) => [s.logId, s]));
      // The logs a kill can have left unrecorded, per destination: the last request that had
      // arrived when it came (still unanswered, or answered while the victim had not yet committed
      // its attempt record: a runner sends a destination nothing more before that commit), and a
      // request the victim wrote before dying that this process read only after the kill.
      const atRisk = new Map<string, 'in flight' | 'answered, unrecorded' | 'read after the kill'>();
      for (const kill of kills)
        receivers.forEach((receiver, d) => {
          const last = receiver.received[kill.arrived[d]! - 1];
          if (last) {
            const logId = logIdOf(last);
            atRisk.set(logId, kill.inFlight.has(logId) ? 'in flight' : 'answered, unrecorded');
          }
          if (kill.drained[d]! > kill.arrived[d]!)
            atRisk.set(logIdOf(receiver.received[kill.arrived[d]!]!), 'read after the kill');
        });
      const duplicateKinds = new Map<string, number>();
      const unacknowledged = new Set<string>();
      let duplicates = 0;
      const perDestination: string[] = [];
      receivers.forEach((receiver, d) => {
        const dest = `dest${d}`;
        const arrivals = receiver.received.map((r) => ({
          logId: logIdOf(r),
          sequence: Number(r.headers['x-switchboard-sequence']),
          patient: (r.json.Patient as { Identifiers: { ID: string }[] }).Identifiers[0]!.ID,
        }));
        for (const a of arrivals) {
          const sent = logOf.get(a.logId);
          if (!sent) {
            // Committed, then the instance died before its 200 went out: the sender never saw the
            // answer and sent the message again. Delivering what was committed is right.
            unacknowledged.add(a.logId);
            continue;
          }
          assert.equal(sent.destination, dest, `${dest}: log ${a.logId} belongs to ${sent.destination}`);
          assert.equal(a.patient, `MRN-${sent.n}`);
        }
        // First arrivals of distinct logs are strictly increasing in sequence: FIFO across instances.
        const firstSequence = new Map<string, number>();
        for (const a of arrivals) if (!firstSequence.has(a.logId)) firstSequence.set(a.logId, a.sequence);
        const firsts = [...firstSequence.values()];
        for (let k = 1; k < firsts.length; k++)
          assert.ok(firsts[k]! > firsts[k - 1]!, `${dest}: sequence ${firsts[k]} after ${firsts[k - 1]}`);
        // A redelivery comes where the kill interrupted: arrivals never go back.
        for (let k = 1; k < arrivals.length; k++)
          assert.ok(
            arrivals[k]!.sequence >= arrivals[k - 1]!.sequence,
            `${dest}: arrival ${k} (sequence ${arrivals[k]!.sequence}) went back after ${arrivals[k - 1]!.sequence}`,
          );
        // Duplicates only from a kill: the log in flight (nothing is sent before the previous
        // record has committed).
        const seen = new Set<string>();
        for (const a of arrivals) {
          if (seen.has(a.logId)) {
            const kind = atRisk.get(a.logId);
            assert.ok(
              kind,
              `${dest}: log ${a.logId} (sequence ${a.sequence}) delivered again, not in flight at a kill`,
            );
            duplicateKinds.set(kind, (duplicateKinds.get(kind) ?? 0) + 1);
          }
          seen.add(a.logId);
        }
        const extra = arrivals.length - firsts.length;
        assert.ok(extra <= KILLS, `${dest}: ${extra} duplicate deliveries after ${KILLS} kills`);
        duplicates += extra;
        perDestination.push(`${dest}:${arrivals.length}/${firsts.length}`);
      });
      // Per sender, acceptance order is sequence order at each destination.
      const sequenceOf = new Map<string, number>();
      for (const receiver of receivers)
        for (const r of receiver.received)
          sequenceOf.set(logIdOf(r), Number(r.headers['x-switchboard-sequence']));
      for (const list of bySender) {
        const last = new Map<string, number>();
        for (const sent of list) {
          const sequence = sequenceOf.get(sent.logId)!;
          const before = last.get(sent.destination);
          if (before !== undefined)
            assert.ok(sequence > before, `${sent.destination}: message ${sent.n} before an earlier one`);
          last.set(sent.destination, sequence);
        }
      }
      t.diagnostic(
        `${acked.length} acknowledged through ${INSTANCES} instances in ${sentSeconds.toFixed(1)} s ` +
          `(${connectionErrors} connection errors at the kills, after ${killsAt.join(' and ')} acks); ` +
          `all delivered after ${deliveredSeconds.toFixed(1)} s`,
      );
      // Only requests in flight at a kill can have been committed without their answer.
      assert.ok(
        unacknowledged.size <= SENDERS * KILLS,
        `${unacknowledged.size} delivered logs were never acknowledged (at most ${SENDERS * KILLS})`,
      );
      t.diagnostic(
        `${unacknowledged.size} logs committed but unacknowledged at a kill (delivered; their senders retried), ` +
          `${duplicates} duplicate deliveries in all (in flight at the ${KILLS} kills: ` +
          `${[...duplicateKinds].map(([kind, n]) => `${n} ${kind}`).join(', ') || 'none'}), per destination ` +
          `arrivals/distinct: ${perDestination.join(' ')}`,
      );
    } catch (error) {
      t.diagnostic(`server output:\n${output.slice(-6_000)}`);
      throw error;
    } finally {
      for (const instance of instances) instance.process?.kill('SIGKILL');
      await Promise.all(instances.map((instance) => instance.exited));
    }
  },
);
