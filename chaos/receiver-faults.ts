// The receiver-faults chaos scenario (issue 15): npm run chaos with CHAOS=receiver-faults.
import { readFileSync } from 'node:fs';
import {
  PLATFORM_KEY,
  payload,
  startSwitchboard,
  stop,
  tempDir,
  token,
  writeConfig,
  type BenchDestination,
} from '../bench/lib.ts';
import { FAULT_KINDS, FaultyReceiver, type FaultKind } from './faulty-receiver.ts';
import type { Outcome } from './scenarios.ts';

/** Short enough that a fault of a few seconds sees several attempts (the defaults: 60 s, 10 s, 120 s). */
const DELIVERY = {
  asyncTimeoutMs: 2_000,
  retryInitialDelayMs: 500,
  retryMaxDelayMs: 2_000,
  pollIntervalMs: 200,
};
/**
 * After its receiver recovers, a destination must be delivered within an attempt in flight (the
 * timeout), the longest retry wait and its messages' own deliveries; slack for a busy machine.
 * Past this the queue is taken for hung.
 */
const RECOVERY_BOUND_MS = DELIVERY.asyncTimeoutMs + DELIVERY.retryMaxDelayMs + 10_000;
/** RSS growth past this, with at most one 50 MB answer in flight at a time, is a runaway. */
const RSS_GROWTH_LIMIT_MB = 200;

const rssMb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One destination per way a receiver fails, each misbehaving for `faultMs` and then answering 200:
 *
 * - `refused`: nothing listens on its port (connection refused); then a server starts there.
 * - `silent`: reads the request and never answers; the attempt's timeout must end it.
 * - `error-500`: answers 500.
 * - `reset`: resets the connection (TCP RST) before answering, or after the headers.
 * - `stall`: sends a 200's headers and the start of its body, then trickles a byte a second.
 * - `malformed`: answers bytes that are not HTTP, or a 200 with two Content-Lengths.
 * - `huge`: answers 200 with a 50 MB body. A 2xx is received, whatever its body, so its messages
 *   are delivered during the fault, once each, with the body read no further than its excerpt.
 *
 * (A 429 with Retry-After is its own scenario.) Each destination gets `perDestination` messages
 * at the start; a `healthy` destination gets one every 250 ms throughout and must never wait for
 * the failing ones. Per fault: attempts during the fault, time from recovery to the last
 * delivery, order violations and duplicates. Problems: a message lost or out of order, a
 * duplicate, a queue still undelivered RECOVERY_BOUND_MS after its receiver recovered (a hung
 * worker), RSS runaway, the process gone.
 */
export async function receiverFaults(faultMs = 10_000, perDestination = 5): Promise<Outcome> {
  const receivers = new Map<FaultKind, FaultyReceiver>();
  const dir = tempDir('chaos-receiver-faults');
  const healthy = await FaultyReceiver.healthy();
  const problems: string[] = [];
  let server: Awaited<ReturnType<typeof startSwitchboard>> | undefined;
  try {
    for (const kind of FAULT_KINDS) receivers.set(kind, await FaultyReceiver.start(kind));
    const destinations: BenchDestination[] = [
      ...[...receivers].map(([kind, r]) => ({ id: kind, url: r.url })),
      { id: 'healthy', url: healthy.url },
    ];
    server = await startSwitchboard(writeConfig(dir.path, destinations, { delivery: DELIVERY }));
    const { child, url } = server;
    let exit: string | undefined;
    child.once('exit', (code, signal) => (exit = `exited (${signal ?? code}) during the scenario`));
    const auth = `Bearer ${await token(url)}`;
    const pid = child.pid!;
    const startMb = rssMb(pid);
    let peakMb = startMb;
    const sampler = setInterval(() => {
      try {
        peakMb = Math.max(peakMb, rssMb(pid));
      } catch {
        // The process is gone (the exit listener reports it).
      }
    }, 50);

    let n = 0;
    const send = async (destination: string): Promise<string | undefined> => {
      const res = await fetch(`${url}/endpoint`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: payload(n++, 1024, destination),
      });
      const body = (await res.json()) as { Meta?: { Logs?: { ID: string }[] } };
      if (res.status !== 200) problems.push(`a message to ${destination} was answered ${res.status}`);
      return body.Meta?.Logs?.[0]?.ID;
    };

    const began = performance.now();
    // Round robin, one at a time: each destination's log IDs are in acceptance order.
    const acked = new Map<string, string[]>(destinations.map((d) => [d.id, []]));
    for (let i = 0; i < perDestination; i++)
      for (const kind of receivers.keys()) {
        const id = await send(kind);
        if (id) acked.get(kind)!.push(id);
      }
    // The healthy destination, throughout the fault: how long each message waits for it.
    let faulting = true;
    const healthyAcceptedAt = new Map<string, number>();
    const healthySender = (async () => {
      while (faulting) {
        // From before the request: a delivery may start before its 200 is read here.
        const sentAt = performance.now();
        const id = await send('healthy');
        if (id) acked.get('healthy')!.push(id);
        if (id) healthyAcceptedAt.set(id, sentAt);
        await sleep(250);
      }
    })();

    await sleep(Math.max(0, faultMs - (performance.now() - began)));
    // What the store recorded by the time the receivers recover.
    const attemptsDuring = new Map<FaultKind, number>();
    const errors = new Map<FaultKind, string>();
    for (const kind of receivers.keys()) {
      attemptsDuring.set(kind, await attemptCount(url, kind));
      errors.set(kind, await lastError(url, kind));
    }
    const deliveredDuring = new Map([...receivers].map(([kind, r]) => [kind, r.deliveries.length]));
    const recoveredAt = performance.now();
    for (const receiver of receivers.values()) await receiver.recover();
    faulting = false;
    await healthySender;

    const finished = await Promise.all(
      [...receivers].map(
        async ([kind, r]) => [kind, await r.whenDelivered(acked.get(kind)!, 60_000)] as const,
      ),
    );
    const healthyDone = await healthy.whenDelivered(acked.get('healthy')!, 30_000);
    clearInterval(sampler);

    const figures: Record<string, string | number> = {
      settings: `${faultMs / 1000} s of faults, ${perDestination} messages each, asyncTimeoutMs ${DELIVERY.asyncTimeoutMs}, retries ${DELIVERY.retryInitialDelayMs}-${DELIVERY.retryMaxDelayMs} ms`,
    };
    for (const [kind, doneAt] of finished) {
      const receiver = receivers.get(kind)!;
      const ids = acked.get(kind)!;
      const { lost, outOfOrder, duplicates } = audit(ids, receiver);
      const recovery =
        doneAt === undefined
          ? 'never'
          : doneAt <= recoveredAt
            ? 'during the fault'
            : `${((doneAt - recoveredAt) / 1000).toFixed(1)} s`;
      figures[kind] =
        `attempts during the fault ${attemptsDuring.get(kind)} (${receiver.faultRequests} reached it; ${errors.get(kind)}), ` +
        `delivered after recovery: ${recovery}, out of order ${outOfOrder}, duplicates ${duplicates}`;
      if (lost > 0) problems.push(`${kind}: ${lost} of ${ids.length} acknowledged messages not delivered`);
      if (outOfOrder > 0) problems.push(`${kind}: ${outOfOrder} deliveries out of order`);
      if (duplicates > 0) problems.push(`${kind}: ${duplicates} logs delivered twice`);
      if (doneAt !== undefined && doneAt - recoveredAt > RECOVERY_BOUND_MS)
        problems.push(`${kind}: delivered ${recovery} after recovery, over ${RECOVERY_BOUND_MS / 1000} s`);
      if (doneAt === undefined)
        problems.push(
          `${kind}: undelivered 60 s after recovery (a hung worker?): ${await queueState(url, kind)}`,
        );
      if (kind === 'huge' && deliveredDuring.get(kind)! < ids.length)
        problems.push('huge: a 200 with a 50 MB body was not taken as received');
      if (kind !== 'huge' && (attemptsDuring.get(kind) ?? 0) < 2)
        problems.push(`${kind}: only ${attemptsDuring.get(kind)} attempts recorded in ${faultMs / 1000} s`);
    }
    // From its request to its delivery: a healthy queue must not wait behind the failing ones.
    const longestWait = Math.max(
      0,
      ...healthy.deliveries.map((d) => d.at - (healthyAcceptedAt.get(d.logId) ?? d.at)),
    );
    const healthyAudit = audit(acked.get('healthy')!, healthy);
    figures.healthy =
      `${healthy.deliveries.length} of ${acked.get('healthy')!.length} sent during the faults delivered, ` +
      `longest wait ${Math.round(longestWait)} ms, out of order ${healthyAudit.outOfOrder}, duplicates ${healthyAudit.duplicates}`;
    if (
      healthyDone === undefined ||
      healthyAudit.lost > 0 ||
      healthyAudit.outOfOrder + healthyAudit.duplicates > 0
    )
      problems.push(`healthy: ${figures.healthy}`);
    if (longestWait > DELIVERY.asyncTimeoutMs)
      problems.push(
        `healthy: a message waited ${Math.round(longestWait)} ms, longer than a timed-out attempt`,
      );
    figures['RSS start / peak (MB)'] = `${Math.round(startMb)} / ${Math.round(peakMb)}`;
    if (peakMb - startMb > RSS_GROWTH_LIMIT_MB)
      problems.push(`RSS grew ${Math.round(peakMb - startMb)} MB, over ${RSS_GROWTH_LIMIT_MB} MB`);
    const alive =
      exit === undefined && (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200;
    if (!alive) problems.push(`the server ${exit ?? 'stopped answering /healthz'}`);
    figures['runtime (s)'] = ((performance.now() - began) / 1000).toFixed(1);
    return { name: `receiver faults: ${FAULT_KINDS.join(', ')}, then recovery`, figures, problems };
  } finally {
    if (server) await stop(server.child);
    for (const receiver of receivers.values()) await receiver.close();
    await healthy.close();
    dir.remove();
  }
}

/** What a destination's receiver got of the log IDs acknowledged for it, in that order. */
function audit(
  ids: string[],
  receiver: FaultyReceiver,
): { lost: number; outOfOrder: number; duplicates: number } {
  const seen = new Set<string>();
  let duplicates = 0;
  let outOfOrder = 0;
  let highest = -1;
  for (const d of receiver.deliveries) {
    if (seen.has(d.logId)) duplicates++;
    seen.add(d.logId);
    // A delivery after a later log of its destination: its place in acceptance order went back.
    const place = ids.indexOf(d.logId);
    if (place < highest) outOfOrder++;
    highest = Math.max(highest, place);
  }
  return { lost: ids.filter((id) => !seen.has(id)).length, outOfOrder, duplicates };
}

const platform = (url: string, path: string): Promise<Response> =>
  fetch(`${url}${path}`, { headers: { authorization: `Bearer ${PLATFORM_KEY}` } });

/** Attempts the store recorded for a destination's logs so far. */
async function attemptCount(url: string, destination: string): Promise<number> {
  const res = await platform(url, `/platform/v1/logs?destinationId=${destination}&limit=500`);
  const { logs } = (await res.json()) as { logs: { attemptCount: number }[] };
  return logs.reduce((sum, log) => sum + log.attemptCount, 0);
}

/** The error of a queue's last failed attempt, in short. */
async function lastError(url: string, destination: string): Promise<string> {
  const res = await platform(url, `/platform/v1/destinations/${destination}/queue`);
  const queue = (await res.json()) as { lastError?: { error?: string } | null };
  const error = queue.lastError?.error;
  return error ? `last error "${error.length > 48 ? `${error.slice(0, 48)}...` : error}"` : 'no error';
}

/** A queue's state and last error, to say why it is stuck. */
async function queueState(url: string, destination: string): Promise<string> {
  const res = await platform(url, `/platform/v1/destinations/${destination}/queue`);
  const queue = (await res.json()) as {
    state?: string;
    depth?: number;
    lastError?: { error?: string } | null;
  };
  return `queue ${queue.state}, depth ${queue.depth}, last error ${queue.lastError?.error ?? 'none'}`;
}
