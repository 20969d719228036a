// The full-disk chaos scenario (issue 15): npm run chaos with CHAOS=full-disk. Needs root (mount).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLATFORM_KEY, freePort, payload, tempDir, token, writeConfig } from '../bench/lib.ts';
import { startServerProcess, type ServerProcess } from '../test/helpers/server-process.ts';
import { fillToLastPage, mountTmpfs } from '../test/helpers/tmpfs.ts';
import { FaultyReceiver } from './faulty-receiver.ts';
import type { Outcome } from './scenarios.ts';

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Switchboard whose data directory is on a `sizeMb` tmpfs, filled by ~60 KB messages until it
 * answers 503 (docs/reliability.md, "a full disk"; test/embedded/full-disk.test.ts is the bounded
 * version). Promises checked: every answer is 200 or 503 (never another 5xx); /readyz turns 503
 * with the reason; stopped and restarted on the full disk (with a config change, so start-up
 * must write), it starts, stays up, serves reads and says why it is not ready; once a filler
 * file is deleted it turns ready by itself, applies the config, accepts again, and delivers
 * every acknowledged message, in order; the store holds exactly the acknowledged ones (a 503
 * leaves nothing behind), and no stack trace is logged. Redeliveries (an attempt whose record
 * could not be written) are counted, not failed: delivery is at least once.
 *
 * `fillPauseMs` 0 fills the disk in a burst, faster than the checkpointer copies the WAL into the
 * database file, so the data is still in the WAL when the disk is full (the figure says how
 * much); with a pause (50 ms) the checkpointer keeps up and the WAL stays small.
 */
export async function fullDisk(sizeMb = 16, fillPauseMs = 0): Promise<Outcome> {
  const disk = mountTmpfs('chaos-disk', sizeMb);
  const mount = disk.path;
  const dir = tempDir('chaos-full-disk');
  const receiver = await FaultyReceiver.healthy('d0');
  let server: ServerProcess | undefined;
  const problems: string[] = [];
  const figures: Record<string, string | number> = {};
  try {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const config = (extra: { id: string; url: string }[]) =>
      writeConfig(dir.path, [{ id: 'd0', url: receiver.url }, ...extra], {
        server: { port, host: '127.0.0.1', dataDir: join(mount, 'data'), logLevel: 'error', rateLimit: 1e9 },
        // Delivery writes an attempt record per message: on the full disk it must wait and retry.
        delivery: { retryInitialDelayMs: 500, retryMaxDelayMs: 2_000, pollIntervalMs: 200 },
      });
    mkdirSync(join(mount, 'data'));
    server = await startServerProcess(config([]), url);
    const began = performance.now();
    const auth = `Bearer ${await token(url)}`;
    // Space to give back later: deleting it is what "space returns" means here.
    const filler = join(mount, 'filler');
    writeFileSync(filler, Buffer.alloc(4 * MB));

    const answers: Record<number, number> = {};
    const acked: string[] = [];
    let n = 0;
    /** One message to d0: its log ID when it was acknowledged. */
    const send = async (): Promise<number> => {
      const res = await fetch(`${url}/endpoint`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: payload(n++, 60_000, 'd0'),
      });
      const body = (await res.json()) as { Meta?: { Logs?: { ID: string }[] } };
      answers[res.status] = (answers[res.status] ?? 0) + 1;
      if (res.status === 200) acked.push(body.Meta!.Logs![0]!.ID);
      else if (res.status !== 503) problems.push(`a message answered ${res.status}`);
      return res.status;
    };
    // Until the disk refuses, then 20 more: after a refusal, any 200 must still be kept.
    while (n < 2_000 && (await send()) === 200) if (fillPauseMs) await sleep(fillPauseMs);
    const firstRefusal = n;
    for (let i = 0; i < 20; i++) await send();
    figures['accepted until the first 503'] = firstRefusal - 1;
    const full = await readyz(url);
    figures['/readyz when full'] = full.status;
    if (full.status !== 503 || !/refuses writes/.test(full.reason))
      problems.push(`/readyz on the full disk: ${full.status} ${full.reason}`);

    // Stopped the way an operator would, on the full disk: it must still exit, promptly.
    const stopping = performance.now();
    server.process.kill('SIGTERM');
    const exited = await Promise.race([server.exited.then(() => true), sleep(20_000).then(() => false)]);
    figures['SIGTERM on the full disk, exit after (s)'] = exited
      ? ((performance.now() - stopping) / 1000).toFixed(1)
      : 'none in 20 s';
    if (!exited) problems.push('SIGTERM on the full disk: no exit in 20 s');
    await server.kill();
    checkOutput(server, 'the first process', problems);
    // What the process freed on its way out is taken too, to the last page.
    const rest = join(mount, 'rest');
    fillToLastPage(rest);

    // A restart on it, with a new destination in the file, so start-up has to write: first on
    // the disk full to its last page, as a supervisor would restart it; if that one cannot start,
    // again with two pages given back (as after a kill -9, whose lock file keeps its page: the
    // bounded test's case).
    const restartConfig = config([{ id: 'later', url: receiver.url }]);
    let restarted = await tryStart(restartConfig, url);
    if (typeof restarted === 'string') {
      figures['restart on a disk full to the last page'] = `exits at start-up: ${restarted}`;
      problems.push(
        `a restart on a disk full to the last page exits at start-up (a crash loop): ${restarted}`,
      );
      truncateSync(rest, Math.max(0, statSync(rest).size - 8192));
      restarted = await tryStart(restartConfig, url);
      if (typeof restarted === 'string') {
        problems.push(`a restart with two pages free exits at start-up: ${restarted}`);
        return { name: `a full disk (${sizeMb} MB tmpfs)`, figures, problems };
      }
    } else figures['restart on a disk full to the last page'] = 'starts';
    server = restarted;
    let crashed = false;
    void restarted.exited.then(() => (crashed = true));
    let refusedAfterRestart = 0;
    for (let i = 0; i < 20; i++) if ((await send()) === 503) refusedAfterRestart++;
    if (refusedAfterRestart === 0)
      problems.push('after the restart on the full disk, every message was accepted');
    // Watched for a while: not ready, with the reason, and still up (no crash loop).
    const seen = new Map<string, number>();
    for (const end = performance.now() + 6_000; performance.now() < end && !crashed; await sleep(500)) {
      const r = await readyz(url);
      const what = `${r.status}${/refuses writes/.test(r.reason) ? ' (refuses writes)' : ''}`;
      seen.set(what, (seen.get(what) ?? 0) + 1);
    }
    const states = [...seen].map(([what, count]) => `${what} x${count}`).join(', ');
    figures['after the restart on the full disk'] =
      `${crashed ? 'exited' : 'up'}; /readyz ${states}; ${refusedAfterRestart} of 20 messages 503`;
    if (crashed) problems.push(`the restarted process exited: ${server.output().slice(-500)}`);
    if ([...seen.keys()].some((what) => what !== '503 (refuses writes)'))
      problems.push(`/readyz after the restart on the full disk: ${states}`);
    const reads = await platform(url, '/platform/v1/logs?limit=5');
    if (reads.status !== 200) problems.push(`reads on the full disk: ${reads.status}`);

    // Space returns: the filler is deleted. Should the store not recover with that (its WAL
    // may hold more than was freed, see below), the disk is grown, so that the rest of the
    // promises (the config applied, every acknowledged message delivered) are still checked.
    const filled = storeSizes(mount);
    const freed = performance.now();
    rmSync(filler);
    rmSync(rest);
    let ready = await until(async () => (await readyz(url)).status === 200, 30_000);
    figures['full: database / WAL (MB)'] = filled;
    figures['ready again after deleting the 4 MB filler (s)'] = ready
      ? ((performance.now() - freed) / 1000).toFixed(1)
      : `not in 30 s (then: ${storeSizes(mount)})`;
    if (!ready) {
      problems.push(
        `not ready 30 s after 4 MB was freed (database / WAL in MB when full: ${filled}; 30 s after: ${storeSizes(mount)})`,
      );
      const grown = performance.now();
      execFileSync('mount', ['-o', `remount,size=${sizeMb * 4}m`, mount]);
      ready = await until(async () => (await readyz(url)).status === 200, 30_000);
      figures[`ready again after growing the disk to ${sizeMb * 4} MB (s)`] = ready
        ? ((performance.now() - grown) / 1000).toFixed(1)
        : 'never';
      if (!ready) problems.push(`not ready 30 s after the disk grew to ${sizeMb * 4} MB`);
    }
    const readyAt = performance.now();
    const applied = await until(
      async () => (await platform(url, '/platform/v1/destinations/later')).ok,
      15_000,
    );
    if (!applied) problems.push('the changed config file was not applied once space returned');
    for (let i = 0; i < 5; i++)
      if ((await send()) !== 200) problems.push('a message after space returned was not accepted');
    const delivered = await receiver.whenDelivered(acked, 120_000);
    figures['all acknowledged delivered, after ready again (s)'] =
      delivered === undefined ? 'never in 120 s' : ((delivered - readyAt) / 1000).toFixed(1);

    const deliveredIds = new Set(receiver.deliveries.map((d) => d.logId));
    const ackedIds = new Set(acked);
    const lost = acked.filter((id) => !deliveredIds.has(id)).length;
    const unacknowledged = [...deliveredIds].filter((id) => !ackedIds.has(id)).length;
    let outOfOrder = 0;
    for (let i = 1, top = -1; i <= receiver.deliveries.length; i++) {
      const place = acked.indexOf(receiver.deliveries[i - 1]!.logId);
      if (place < top) outOfOrder++;
      top = Math.max(top, place);
    }
    const stored = await storedLogs(url);
    figures.answers = Object.entries(answers)
      .map(([s, c]) => `${s} x${c}`)
      .join(', ');
    figures['acknowledged / stored / delivered'] = `${acked.length} / ${stored} / ${acked.length - lost}`;
    figures['redelivered, out of order'] = `${receiver.deliveries.length - deliveredIds.size}, ${outOfOrder}`;
    if (lost > 0) problems.push(`${lost} acknowledged messages not delivered`);
    if (stored !== acked.length)
      problems.push(`${stored} logs stored for ${acked.length} acknowledged messages`);
    if (unacknowledged > 0) problems.push(`${unacknowledged} unacknowledged messages delivered`);
    if (outOfOrder > 0) problems.push(`${outOfOrder} deliveries after a later log`);
    checkOutput(server, 'the restarted process', problems);
    figures['runtime (s)'] = ((performance.now() - began) / 1000).toFixed(1);
    const how = fillPauseMs ? `${fillPauseMs} ms apart` : 'in a burst';
    return {
      name: `a full disk (${sizeMb} MB tmpfs, filled ${how}): restart on it, free space`,
      figures,
      problems,
    };
  } finally {
    await server?.kill();
    await receiver.close();
    disk.remove();
    dir.remove();
  }
}

async function readyz(url: string): Promise<{ status: number; reason: string }> {
  const res = await fetch(`${url}/readyz`);
  const body = (await res.json()) as { reason?: string };
  return { status: res.status, reason: body.reason ?? '' };
}

const platform = (url: string, path: string): Promise<Response> =>
  fetch(`${url}${path}`, { headers: { authorization: `Bearer ${PLATFORM_KEY}` } });

/** Polls `check` every 100 ms until it holds (true) or `timeoutMs` passed (false). */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  for (const deadline = performance.now() + timeoutMs; performance.now() < deadline; await sleep(100))
    if (await check()) return true;
  return false;
}

/** Logs of destination d0 in the store, through the Platform API, page by page. */
async function storedLogs(url: string): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const res = await platform(
      url,
      `/platform/v1/logs?destinationId=d0&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
    );
    const page = (await res.json()) as { logs: unknown[]; nextCursor: string | null };
    count += page.logs.length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}

/** The database file and its WAL, in MB, and how full the disk is. */
function storeSizes(mount: string): string {
  const mb = (file: string): string => (statSync(join(mount, 'data', file)).size / MB).toFixed(1);
  const disk = statfsSync(mount);
  const used = Math.round((1 - disk.bavail / disk.blocks) * 100);
  return `${mb('switchboard.db')} / ${mb('switchboard.db-wal')}, disk ${used}% used`;
}

/**
 * A started process, or, when it exited at start-up, its error's first line and the first frame
 * in Switchboard's own code (no `|`: the figures go into a Markdown table).
 */
async function tryStart(configFile: string, url: string): Promise<ServerProcess | string> {
  try {
    return await startServerProcess(configFile, url);
  } catch (error) {
    const lines = (error as Error).message.split('\n').map((line) => line.trim());
    const first = lines.find((line) => /^\w*Error\b/.test(line)) ?? lines[1] ?? '';
    const frame = /at (\S+) \(file:\/\/.*?\/(src\/[^)]+)\)/.exec(
      lines.find((l) => l.includes('/src/')) ?? '',
    );
    return `${first}${frame ? ` (at ${frame[1]}, ${frame[2]})` : ''}`.replaceAll('|', '/').slice(0, 200);
  }
}

/** A full disk is an expected condition: it is logged, never as a crash with a stack trace. */
function checkOutput(server: ServerProcess, which: string, problems: string[]): void {
  if (/\n\s+at /.test(server.output())) problems.push(`${which} logged a stack trace`);
}
