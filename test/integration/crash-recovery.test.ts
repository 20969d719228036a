import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ehrToken, freePort } from '../helpers/child-server.ts';
import { PLATFORM_KEY, harnessConfigFile, patientAdmin } from '../helpers/harness.ts';
import { SlowReceiver } from '../helpers/slow-receiver.ts';
import { createStorage } from '../helpers/storage.ts';
import { settle, waitFor } from '../helpers/wait.ts';

/**
 * Crash: the server runs as a child process; it is killed with SIGKILL twice during a stream of
 * sends and deliveries and restarted on the same config and data dir. Every message that got a
 * 200 must reach each of its destinations, in order per destination; redeliveries after a crash
 * carry the same log ID.
 */

const ROOT = join(import.meta.dirname, '../..');
const SENDERS = 8;
/** Upper bound of messages sent; the phases below normally stop the senders well before it. */
const MAX_MESSAGES = 1_200;
/** Acknowledged and not yet delivered (to the slowest destination) before senders wait. */
const MAX_BACKLOG = 150;
const KILLS = 2;
/** Acknowledged messages to wait for before each kill, and after the last restart. */
const ACKS_PER_PHASE = 110;

const dir = mkdtempSync(join(tmpdir(), 'switchboard-crash-'));
const storage = await createStorage('crash');
let child: ChildProcess | undefined;
let receivers: SlowReceiver[] = [];

after(async () => {
  child?.kill('SIGKILL');
  await Promise.all(receivers.map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
  await storage.remove();
});

interface Running {
  process: ChildProcess;
  exited: Promise<void>;
}

let output = '';

/** Spawns `src/main.ts` the way an operator would, and waits until `/healthz` answers. */
async function startChild(configFile: string, url: string): Promise<Running> {
  // Only the config file decides; nothing from the test runner's environment leaks in.
  const ignored = new Set(['PORT', 'HOST', 'DATA_DIR', 'DATABASE_URL', 'LOG_LEVEL', 'NODE_TEST_CONTEXT']);
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !ignored.has(name))),
    SWITCHBOARD_CONFIG: configFile,
  };
  const proc = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  proc.stdout.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  await waitFor(
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`server exited during start-up:\n${output}`);
      try {
        return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok;
      } catch {
        return false; // Not listening yet.
      }
    },
    15_000,
    'the server to answer /healthz',
  );
  return { process: proc, exited };
}

interface Sent {
  n: number;
  sender: number;
  messageId: number;
  /** Destination ID -> log ID, from Meta.Destinations[i] / Meta.Logs[i]. */
  logs: Map<string, string>;
}

const STACK = /\n\s+at |node_modules|\/work\/|\.ts:\d+/;

test(
  'kill -9 during sends and deliveries, restart: every acknowledged message is delivered, in order per destination',
  { timeout: 90_000 },
  async (t) => {
    // A few ms per answer, so each destination has a delivery in flight most of the time.
    receivers = await Promise.all(
      [0, 1, 2].map(() => SlowReceiver.start(() => 2 + Math.floor(Math.random() * 4))),
    );
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const configFile = join(dir, 'switchboard.json');
    writeFileSync(
      configFile,
      JSON.stringify(
        harnessConfigFile(
          {
            destinations: receivers.map((r, i) => ({ id: `dest${i}`, url: r.url })),
            server: { port, logLevel: 'warn' },
            delivery: {
              // On PostgreSQL the killed process's leases hold its queues until they expire.
              leaseMs: 2_000,
              pollIntervalMs: 100,
              retryInitialDelayMs: 50,
              retryMaxDelayMs: 500,
              shutdownGraceMs: 1_000,
            },
          },
          storage,
        ),
      ),
    );

    let running = await startChild(configFile, url);
    try {
      // The same token is used across restarts: the signing key lives in the store.
      const token = await ehrToken(url);

      const acked: Sent[] = [];
      /** Acknowledged messages per sender, in the order each sender got its 200s. */
      const bySender: Sent[][] = Array.from({ length: SENDERS }, () => []);
      const otherAnswers: string[] = [];
      const answerBodies: string[] = [];
      let connectionErrors = 0;
      let next = 1;
      let stop = false;
      // Senders that hit a dead server wait here until the next process is up.
      let up: Promise<void> = Promise.resolve();

      const sendLoop = async (sender: number): Promise<void> => {
        while (!stop && next <= MAX_MESSAGES) {
          // Backpressure: while a restarted instance waits out its dead leases (PostgreSQL) or
          // catches up, the senders wait too, so they are still sending at the next kill.
          while (!stop && acked.length - Math.min(...receivers.map((r) => r.logIds().length)) > MAX_BACKLOG)
            await settle(5);
          const n = next++;
          let answer: Response;
          let text: string;
          try {
            answer = await fetch(`${url}/endpoint`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
              body: JSON.stringify(patientAdmin(n)),
              signal: AbortSignal.timeout(10_000),
            });
            text = await answer.text();
          } catch {
            // Not acknowledged: it may or may not have been stored, and need not be delivered.
            connectionErrors++;
            await settle(20);
            await up;
            continue;
          }
          answerBodies.push(text);
          if (answer.status !== 200) {
            otherAnswers.push(`${answer.status} ${text}`);
            continue;
          }
          const meta = (JSON.parse(text) as { Meta: AckMeta }).Meta;
          if (meta.Errors.length !== 0 || meta.Logs.length !== 3 || meta.Destinations.length !== 3) {
            otherAnswers.push(`200 with an unexpected Meta: ${text}`);
            continue;
          }
          const sent: Sent = {
            n,
            sender,
            messageId: meta.Message.ID,
            logs: new Map(meta.Destinations.map((d, i) => [d.ID, meta.Logs[i]!.ID])),
          };
          acked.push(sent);
          bySender[sender]!.push(sent);
        }
      };
      const senders = Promise.all(Array.from({ length: SENDERS }, (_, s) => sendLoop(s)));
      let sendersDone = false;
      void senders.then(
        () => (sendersDone = true),
        () => (sendersDone = true),
      );

      const killsAt: number[] = [];
      /** Acknowledged but not yet delivered, per destination, at each kill. */
      const backlogs: string[] = [];
      for (let kill = 1; kill <= KILLS; kill++) {
        const target = acked.length + ACKS_PER_PHASE;
        await waitFor(
          () => sendersDone || (acked.length >= target && receivers.some((r) => r.inFlight > 0)),
          30_000,
          `${target} acknowledged messages with a delivery in flight`,
        );
        assert.ok(
          !sendersDone,
          `the senders were still sending at the kill (acked ${acked.length}, delivered ${receivers.map((r) => r.logIds().length).join('/')})\n${output}`,
        );
        let restarted: () => void = () => undefined;
        up = new Promise((resolve) => (restarted = resolve));
        running.process.kill('SIGKILL');
        killsAt.push(acked.length);
        backlogs.push(receivers.map((r) => acked.length - r.logIds().length).join('/'));
        await running.exited;
        assert.equal(running.process.signalCode, 'SIGKILL');
        running = await startChild(configFile, url);
        restarted();
      }
      const target = acked.length + ACKS_PER_PHASE;
      await waitFor(() => sendersDone || acked.length >= target, 30_000, `${target} acknowledged messages`);
      stop = true;
      await senders;
      const ackedAfterLastRestart = acked.length - killsAt[KILLS - 1]!;
      assert.ok(ackedAfterLastRestart > 0, 'messages were acknowledged after the last restart');

      // Every HTTP answer the senders got was a 200 (the token survived the restarts), and none
      // of them holds a stack trace or an internal path.
      assert.deepEqual(otherAnswers, [], 'only 200 answers');
      for (const body of answerBodies) assert.doesNotMatch(body, STACK);

      // (a) Every acknowledged log reaches its destination.
      const missing = (): string[] =>
        acked
          .flatMap((sent) =>
            [...sent.logs].filter(([dest, logId]) => {
              const i = Number(dest.slice('dest'.length));
              return !receivers[i]!.received.some((r) => r.headers['x-switchboard-log-id'] === logId);
            }),
          )
          .map(([dest, logId]) => `${dest}:${logId}`);
      // Waits until nothing is missing, or until the server has nothing left to deliver (no pending
      // log, no arrival for a second), which fails at once rather than at the time limit.
      const pending = async (): Promise<number> => {
        const logs = await fetch(`${url}/platform/v1/logs?status=pending&limit=1`, {
          headers: { authorization: `Bearer ${PLATFORM_KEY}` },
        });
        return ((await logs.json()) as { logs: unknown[] }).logs.length;
      };
      const lastArrival = (): number => Math.max(...receivers.map((r) => r.received.at(-1)?.at ?? 0));
      await waitFor(
        async () => missing().length === 0 || (Date.now() - lastArrival() > 1_000 && (await pending()) === 0),
        40_000,
        'every acknowledged log to be delivered',
      );
      assert.deepEqual(missing(), [], 'acknowledged logs never delivered');
      // Delivery is recorded, too: nothing stays pending.
      await waitFor(async () => (await pending()) === 0, 20_000, 'no pending logs');

      const byLogId = new Map<string, Sent>();
      for (const sent of acked) for (const logId of sent.logs.values()) byLogId.set(logId, sent);
      const sequenceOf = new Map<string, number>();
      receivers.forEach((receiver, i) => {
        const dest = `dest${i}`;
        const arrivals = receiver.received.map((r) => ({
          logId: String(r.headers['x-switchboard-log-id']),
          sequence: Number(r.headers['x-switchboard-sequence']),
          messageId: Number(r.headers['x-switchboard-message-id']),
          patient: (r.json.Patient as { Identifiers: { ID: string }[] }).Identifiers[0]!.ID,
        }));
        // The payload and headers of each acknowledged log are those of its message.
        for (const a of arrivals) {
          const sent = byLogId.get(a.logId);
          if (!sent) continue; // Stored, but its 200 was lost in a crash.
          assert.equal(sent.logs.get(dest), a.logId, `log ${a.logId} arrived at ${dest}`);
          assert.equal(a.patient, `MRN-${sent.n}`, `payload of log ${a.logId}`);
          assert.equal(a.messageId, sent.messageId, `message id of log ${a.logId}`);
        }
        // A log keeps its sequence number across redeliveries.
        for (const a of arrivals) {
          const known = sequenceOf.get(a.logId);
          if (known !== undefined) assert.equal(a.sequence, known, `sequence of redelivered log ${a.logId}`);
          sequenceOf.set(a.logId, a.sequence);
        }
        // (b) Order kept: the first arrivals of distinct logs are strictly increasing in sequence,
        // and a redelivery comes right where the crash interrupted (arrivals never go back).
        const firsts = receiver.logIds().map((logId) => sequenceOf.get(logId)!);
        for (let k = 1; k < firsts.length; k++)
          assert.ok(
            firsts[k]! > firsts[k - 1]!,
            `${dest}: sequence ${firsts[k]} arrived after ${firsts[k - 1]} (position ${k})`,
          );
        for (let k = 1; k < arrivals.length; k++)
          assert.ok(
            arrivals[k]!.sequence >= arrivals[k - 1]!.sequence,
            `${dest}: arrival ${k} (sequence ${arrivals[k]!.sequence}) went back after ${arrivals[k - 1]!.sequence}`,
          );
        // (c) A redelivery carries the same log ID: each patient reached this destination under
        // one log ID only. One log at a time per destination, so at most one repeat per crash.
        const logsOfPatient = new Map<string, Set<string>>();
        for (const a of arrivals) {
          const ids = logsOfPatient.get(a.patient) ?? new Set<string>();
          ids.add(a.logId);
          logsOfPatient.set(a.patient, ids);
        }
        for (const [patient, ids] of logsOfPatient)
          assert.equal(ids.size, 1, `${dest}: ${patient} arrived under ${ids.size} log IDs`);
        const duplicates = arrivals.length - firsts.length;
        assert.ok(duplicates <= KILLS, `${dest}: ${duplicates} redeliveries after ${KILLS} crashes`);
        const unacknowledged = firsts.length - acked.length;
        t.diagnostic(
          `${dest}: ${arrivals.length} arrivals, ${firsts.length} distinct logs ` +
            `(${unacknowledged} stored without a 200 reaching the sender), ${duplicates} redelivered`,
        );
      });
      // Every acknowledged message's sequence at a destination follows those its sender had
      // already seen acknowledged: acceptance order is delivery order, across the crashes too.
      for (const list of bySender)
        for (let k = 1; k < list.length; k++)
          for (const [dest, logId] of list[k]!.logs) {
            const before = sequenceOf.get(list[k - 1]!.logs.get(dest)!)!;
            assert.ok(
              sequenceOf.get(logId)! > before,
              `${dest}: message ${list[k]!.n} before an earlier one`,
            );
          }
      t.diagnostic(
        `${acked.length} acknowledged of ${next - 1} sent, ${connectionErrors} connection errors, ` +
          `kills after ${killsAt.join(' and ')} acknowledgements (undelivered then: ${backlogs.join(' and ')})`,
      );
    } catch (error) {
      t.diagnostic(`server output:\n${output.slice(-4_000)}`);
      throw error;
    } finally {
      running.process.kill('SIGKILL');
      await running.exited;
    }
  },
);

interface AckMeta {
  Errors: unknown[];
  Destinations: { ID: string }[];
  Logs: { ID: string }[];
  Message: { ID: number };
}
