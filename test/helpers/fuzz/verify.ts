// After every batch: still serving, nothing polluted, the store as promised.
import { OTHER_PLATFORM_KEY, PLATFORM_KEY } from '../harness.ts';
import { settle } from '../wait.ts';
import { breakRule, expected, harness, stored, unanswered } from './context.ts';

const PROTOTYPES: [string, object][] = [
  ['Object.prototype', Object.prototype],
  ['Array.prototype', Array.prototype],
  ['Function.prototype', Function.prototype],
  ['String.prototype', String.prototype],
  ['Number.prototype', Number.prototype],
  ['Boolean.prototype', Boolean.prototype],
];
const CANARIES = ['polluted', 'isAdmin', 'fuzzCanary', 'DataModel'];

/** Every own key of the built-in prototypes, with its value (or getter). */
function prototypeSnapshot(): Map<string, unknown> {
  const snapshot = new Map<string, unknown>();
  for (const [name, proto] of PROTOTYPES)
    for (const key of Reflect.ownKeys(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, key)!;
      snapshot.set(`${name}.${String(key)}`, descriptor.value ?? descriptor.get);
    }
  return snapshot;
}
let prototypesBefore = new Map<string, unknown>();
/** Takes the snapshot later batches are compared with (before the server starts). */
export function rememberPrototypes(): void {
  prototypesBefore = prototypeSnapshot();
}

async function listLogs(key: string): Promise<{ id: string; messageId: number }[]> {
  const logs: { id: string; messageId: number }[] = [];
  let cursor: string | null = null;
  do {
    const res = await fetch(
      `${harness().url}/platform/v1/logs?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
      {
        headers: { authorization: `Bearer ${key}` },
      },
    );
    const page = (await res.json()) as {
      logs: { id: string; messageId: number }[];
      nextCursor: string | null;
    };
    logs.push(...page.logs);
    cursor = page.nextCursor;
  } while (cursor);
  return logs;
}

export async function verifyBatch(batch: string): Promise<void> {
  for (const probe of ['/healthz', '/readyz']) {
    const res = await fetch(harness().url + probe);
    if (res.status !== 200) breakRule(batch, `${probe} answered ${res.status}`);
  }

  const now = prototypeSnapshot();
  for (const [key, value] of now)
    if (prototypesBefore.get(key) !== value) breakRule(batch, `${key} was changed or added`);
  for (const key of prototypesBefore.keys()) if (!now.has(key)) breakRule(batch, `${key} was removed`);
  const plain = {} as Record<string, unknown>;
  for (const canary of CANARIES)
    if (plain[canary] !== undefined) breakRule(batch, `({}).${canary} is ${String(plain[canary])}`);

  stored.logs = 0;
  for (const [org, key] of [
    ['acme', PLATFORM_KEY],
    ['other', OTHER_PLATFORM_KEY],
  ] as const) {
    const want = expected[org];
    // Query logs are written with the next group commit, without being waited for.
    let logs = await listLogs(key);
    for (const deadline = Date.now() + 5_000; logs.length < want.logs && Date.now() < deadline;) {
      await settle(50);
      logs = await listLogs(key);
    }
    await settle(60);
    logs = await listLogs(key);
    stored.logs += logs.length;
    const messages = new Set(logs.map((l) => l.messageId));
    const extra = logs.length - want.logs;
    if (extra < 0 || extra > unanswered[org] || messages.size - want.messages !== extra)
      breakRule(
        batch,
        `${org}: the store has ${messages.size} messages / ${logs.length} logs, the answers promised ` +
          `${want.messages} / ${want.logs} (and up to ${unanswered[org]} unanswered requests may have been stored)`,
      );
    const byMessage = new Map<number, Set<string>>();
    for (const log of logs)
      byMessage.set(log.messageId, (byMessage.get(log.messageId) ?? new Set()).add(log.id));
    for (const [messageId, ids] of want.tracked) {
      const stored = byMessage.get(messageId) ?? new Set();
      if (stored.size !== ids.size || [...ids].some((id) => !stored.has(id)))
        breakRule(
          batch,
          `${org}: message ${messageId} was answered with logs ${[...ids]}, the store has ${[...stored]}`,
        );
    }
  }
  // No message without its logs: invisible to the Platform API, so read beside the server.
  {
    const [row] = await harness().storage.rows<{ messages: number; orphans: number }>(
      `SELECT (SELECT count(*) FROM messages) AS messages,
              (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM logs l WHERE l.message_id = m.id)) AS orphans`,
    );
    if (!row) throw new Error('no counts');
    stored.messages = Number(row.messages);
    const promised = expected.acme.messages + expected.other.messages;
    const slack = unanswered.acme + unanswered.other;
    if (Number(row.orphans) !== 0) breakRule(batch, `${row.orphans} messages are stored without logs`);
    if (Number(row.messages) < promised || Number(row.messages) > promised + slack)
      breakRule(
        batch,
        `${row.messages} messages in the database, ${promised} promised (+ up to ${slack} unanswered)`,
      );
  }
}
