import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ehrToken, freePort } from '../helpers/child-server.ts';
import { PLATFORM_KEY, harnessConfigFile, patientAdmin } from '../helpers/harness.ts';
import type { Received } from '../helpers/receiver.ts';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { SlowReceiver } from '../helpers/slow-receiver.ts';
import { createStorage } from '../helpers/storage.ts';
import { settle, waitFor } from '../helpers/wait.ts';

/**
 * Crash with ordering keys: the server runs as a child process delivering to one keyed destination
 * (key: the patient ID, several keys in flight at once); it is killed with SIGKILL a few times
 * during a stream of sends and deliveries, and restarted on the same config and store (the one
 * TEST_STORE names). Every message that got a 200 must be delivered, and within each key the
 * receiver must see its logs in sequence order, across the crashes: a key's arrivals never go back.
 */

const SENDERS = 8;
const PATIENTS = 20;
const MAX_IN_FLIGHT = 8;
/** Upper bound of messages sent; the phases below normally stop the senders well before it. */
const MAX_MESSAGES = 1_200;
/** Acknowledged and not yet delivered before the senders wait. */
const MAX_BACKLOG = 150;
const KILLS = 3;
/** Acknowledged messages to wait for before each kill, and after the last restart. */
const ACKS_PER_PHASE = 80;
const KEY = '$.Patient.Identifiers[0].ID';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-keys-crash-'));
const storage = await createStorage('keys_crash');
let running: ServerProcess | undefined;
let receiver: SlowReceiver | undefined;

after(async () => {
  await running?.kill();
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
  await storage.remove();
});

/** Message `n`: for patient `MRN-<n mod PATIENTS>` (its ordering key), telling `n` in its payload. */
function keyedAdmin(n: number): Record<string, unknown> {
  const body = patientAdmin(n % PATIENTS);
  (body.Patient as { Demographics: { FirstName: string } }).Demographics.FirstName = `Msg${n}`;
  return body;
}

interface Sent {
  n: number;
  key: string;
  logId: string;
  messageId: number;
  /** performance.now() when the send started, and when its 200 arrived. */
  sentAt: number;
  ackedAt: number;
}

interface Arrival {
  logId: string;
  key: string;
  sequence: number;
  messageId: number;
  firstName: string;
}

const arrivalOf = (r: Received): Arrival => ({
  logId: String(r.headers['x-switchboard-log-id']),
  key: decodeURIComponent(String(r.headers['x-switchboard-ordering-key'])),
  sequence: Number(r.headers['x-switchboard-sequence']),
  messageId: Number(r.headers['x-switchboard-message-id']),
  firstName: (r.json.Patient as { Demographics: { FirstName: string } }).Demographics.FirstName,
});

const STACK = /\n\s+at |node_modules|\/work\/|\.ts:\d+/;

test(
  'kill -9 during keyed sends and deliveries, restart: every acknowledged message is delivered, in order per key',
  { timeout: 60_000 },
  async (t) => {
    // A few ms per answer, so several keys have a delivery in flight most of the time.
    const slow = await SlowReceiver.start(() => 2 + Math.floor(Math.random() * 4));
    receiver = slow;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const configFile = join(dir, 'switchboard.json');
    writeFileSync(
      configFile,
      JSON.stringify(
        harnessConfigFile(
          {
            destinations: [{ id: 'd', url: slow.url, orderingKey: KEY, maxInFlight: MAX_IN_FLIGHT }],
            server: { port, logLevel: 'warn' },
            delivery: {
              // On PostgreSQL the killed process's lease holds the queue until it expires.
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

    let output = '';
    running = await startServerProcess(configFile, url);
    try {
      // The same token is used across restarts: the signing key lives in the store.
      const token = await ehrToken(url);

      const acked: Sent[] = [];
      const otherAnswers: string[] = [];
      const answerBodies: string[] = [];
      let connectionErrors = 0;
      let next = 1;
      let stop = false;
      // Senders that hit a dead server wait here until the next process is up.
      let up: Promise<void> = Promise.resolve();

      const sendLoop = async (): Promise<void> => {
        while (!stop && next <= MAX_MESSAGES) {
          // Backpressure: while a restarted instance waits out its dead lease (PostgreSQL) or
          // catches up, the senders wait too, so they are still sending at the next kill.
          while (!stop && acked.length - slow.logIds().length > MAX_BACKLOG) await settle(5);
          const n = next++;
          const sentAt = performance.now();
          let answer: Response;
          let text: string;
          try {
            answer = await fetch(`${url}/endpoint`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
              body: JSON.stringify(keyedAdmin(n)),
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
          const ackedAt = performance.now();
          answerBodies.push(text);
          if (answer.status !== 200) {
            otherAnswers.push(`${answer.status} ${text}`);
            continue;
          }
          const meta = (JSON.parse(text) as { Meta: AckMeta }).Meta;
          if (meta.Errors.length !== 0 || meta.Logs.length !== 1 || meta.Destinations[0]?.ID !== 'd') {
            otherAnswers.push(`200 with an unexpected Meta: ${text}`);
            continue;
          }
          acked.push({
            n,
            key: `MRN-${n % PATIENTS}`,
            logId: meta.Logs[0]!.ID,
            messageId: meta.Message.ID,
            sentAt,
            ackedAt,
          });
        }
      };
      const senders = Promise.all(Array.from({ length: SENDERS }, () => sendLoop()));
      let sendersDone = false;
      void senders.then(
        () => (sendersDone = true),
        () => (sendersDone = true),
      );

      const killsAt: number[] = [];
      /** Keys in flight at the receiver, and acknowledged logs not yet delivered, at each kill. */
      const atKills: string[] = [];
      for (let kill = 1; kill <= KILLS; kill++) {
        const target = acked.length + ACKS_PER_PHASE;
        await waitFor(
          () => sendersDone || (acked.length >= target && slow.inFlight > 0),
          30_000,
          `${target} acknowledged messages with a delivery in flight`,
        );
        assert.ok(
          !sendersDone,
          `the senders were still sending at the kill (acked ${acked.length}, delivered ${slow.logIds().length})`,
        );
        let restarted: () => void = () => undefined;
        up = new Promise((resolve) => (restarted = resolve));
        const inFlight = slow.inFlight;
        assert.ok(await running.kill(), 'the server died of the SIGKILL');
        killsAt.push(acked.length);
        atKills.push(`${inFlight} in flight, ${acked.length - slow.logIds().length} undelivered`);
        output += running.output();
        running = await startServerProcess(configFile, url);
        restarted();
      }
      const target = acked.length + ACKS_PER_PHASE;
      await waitFor(() => sendersDone || acked.length >= target, 30_000, `${target} acknowledged messages`);
      stop = true;
      await senders;
      assert.ok(acked.length - killsAt[KILLS - 1]! > 0, 'messages were acknowledged after the last restart');

      // Every HTTP answer the senders got was a 200, and none holds a stack trace or an internal path.
      assert.deepEqual(otherAnswers, [], 'only 200 answers');
      for (const body of answerBodies) assert.doesNotMatch(body, STACK);

      // (a) Every acknowledged log reaches the destination. Waits until nothing is missing, or
      // until the server has nothing left to deliver (no pending log, no arrival for a second),
      // which fails at once rather than at the time limit.
      const missing = (): string[] => {
        const seen = new Set(slow.logIds());
        return acked.filter((s) => !seen.has(s.logId)).map((s) => `${s.logId} (message ${s.n}, ${s.key})`);
      };
      const pending = async (): Promise<number> => {
        const logs = await fetch(`${url}/platform/v1/logs?status=pending&limit=1`, {
          headers: { authorization: `Bearer ${PLATFORM_KEY}` },
        });
        return ((await logs.json()) as { logs: unknown[] }).logs.length;
      };
      const lastArrival = (): number => slow.received.at(-1)?.at ?? 0;
      await waitFor(
        async () => missing().length === 0 || (Date.now() - lastArrival() > 1_000 && (await pending()) === 0),
        20_000,
        'every acknowledged log to be delivered',
      );
      assert.deepEqual(missing(), [], 'acknowledged logs never delivered');
      // Delivery is recorded, too: nothing stays pending.
      await waitFor(async () => (await pending()) === 0, 10_000, 'no pending logs');

      assert.ok(slow.maxInFlight <= MAX_IN_FLIGHT, `at most maxInFlight at once (saw ${slow.maxInFlight})`);
      assert.ok(slow.maxInFlight >= 2, `keys went in parallel (saw ${slow.maxInFlight})`);

      const arrivals = slow.received.map(arrivalOf);
      const byLogId = new Map(acked.map((s) => [s.logId, s]));
      // The payload and headers of each acknowledged log are those of its message.
      for (const a of arrivals) {
        const sent = byLogId.get(a.logId);
        if (!sent) continue; // Stored, but its 200 was lost in a crash.
        assert.equal(a.key, sent.key, `ordering key of log ${a.logId}`);
        assert.equal(a.firstName, `Msg${sent.n}`, `payload of log ${a.logId}`);
        assert.equal(a.messageId, sent.messageId, `message id of log ${a.logId}`);
      }
      // A log keeps its key and sequence number across redeliveries, and no two logs share one.
      const sequenceOf = new Map<string, number>();
      const logOfSequence = new Map<number, string>();
      for (const a of arrivals) {
        const known = sequenceOf.get(a.logId);
        if (known !== undefined) assert.equal(a.sequence, known, `sequence of redelivered log ${a.logId}`);
        sequenceOf.set(a.logId, a.sequence);
        const other = logOfSequence.get(a.sequence);
        assert.ok(other === undefined || other === a.logId, `logs ${other} and ${a.logId} share a sequence`);
        logOfSequence.set(a.sequence, a.logId);
      }
      // (b) Order kept per key: a key's first arrivals of distinct logs are strictly increasing in
      // sequence, and a redelivery comes right where the crash interrupted (arrivals never go back).
      const byKey = new Map<string, Arrival[]>();
      for (const a of arrivals) byKey.set(a.key, [...(byKey.get(a.key) ?? []), a]);
      assert.equal(byKey.size, PATIENTS, 'every key was delivered');
      let duplicates = 0;
      for (const [key, list] of byKey) {
        const firsts: number[] = [];
        const seen = new Set<string>();
        for (const a of list) {
          if (seen.has(a.logId)) continue;
          seen.add(a.logId);
          firsts.push(a.sequence);
        }
        for (let k = 1; k < firsts.length; k++)
          assert.ok(
            firsts[k]! > firsts[k - 1]!,
            `${key}: sequence ${firsts[k]} arrived after ${firsts[k - 1]} (position ${k}): ${firsts.join(' ')}`,
          );
        for (let k = 1; k < list.length; k++)
          assert.ok(
            list[k]!.sequence >= list[k - 1]!.sequence,
            `${key}: arrival ${k} (sequence ${list[k]!.sequence}) went back after ${list[k - 1]!.sequence}`,
          );
        duplicates += list.length - firsts.length;
      }
      // A crash interrupts at most one delivery per key in flight.
      assert.ok(
        duplicates <= KILLS * MAX_IN_FLIGHT,
        `${duplicates} redeliveries after ${KILLS} crashes of at most ${MAX_IN_FLIGHT} in flight`,
      );
      // Acceptance order is delivery order within a key, across the crashes too: a message whose
      // 200 came before another of its key was sent has the lower sequence.
      const ackedByKey = new Map<string, Sent[]>();
      for (const s of acked) ackedByKey.set(s.key, [...(ackedByKey.get(s.key) ?? []), s]);
      for (const [key, list] of ackedByKey)
        for (const a of list)
          for (const b of list)
            if (a.ackedAt < b.sentAt)
              assert.ok(
                sequenceOf.get(a.logId)! < sequenceOf.get(b.logId)!,
                `${key}: message ${b.n}, sent after message ${a.n} was acknowledged, has the lower sequence`,
              );
      const distinct = slow.logIds().length;
      t.diagnostic(
        `${arrivals.length} arrivals, ${distinct} distinct logs (${distinct - acked.length} stored without ` +
          `a 200 reaching the sender), ${duplicates} redelivered, at most ${slow.maxInFlight} in flight`,
      );
      t.diagnostic(
        `${acked.length} acknowledged of ${next - 1} sent, ${connectionErrors} connection errors, ` +
          `kills after ${killsAt.join(', ')} acknowledgements (${atKills.join('; ')})`,
      );
    } catch (error) {
      output += running.output();
      t.diagnostic(`server output:\n${output.slice(-4_000)}`);
      throw error;
    } finally {
      await running.kill();
    }
  },
);

interface AckMeta {
  Errors: unknown[];
  Destinations: { ID: string }[];
  Logs: { ID: string }[];
  Message: { ID: number };
}
