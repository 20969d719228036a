// Chaos scenarios (issue 15): each starts a real Switchboard process (bench/lib.ts) against real
// local receivers, injects one fault, prints its figures, and reports what broke a promise.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import {
  freePort,
  payload,
  spawnNode,
  startSwitchboard,
  stop,
  tempDir,
  token,
  waitHttp,
  writeConfig,
} from '../bench/lib.ts';
import { frozenInstance } from './stall.ts';

export interface Outcome {
  name: string;
  figures: Record<string, string | number>;
  /** Broken promises; empty when the scenario passed. */
  problems: string[];
}

const MB = 1024 * 1024;
const rssMb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 50 clients each send one 9 MB message at once (retrying on 503): memory, and every 200 delivered. */
export async function memoryFlood(clients = 50, bodyMb = 9): Promise<Outcome> {
  const port = await freePort();
  const receivers = spawnNode(['bench/receivers.ts'], { PORT: String(port) });
  const dir = tempDir('chaos-flood');
  try {
    await waitHttp(`http://127.0.0.1:${port}/stats`);
    const server = await startSwitchboard(
      writeConfig(dir.path, [{ id: 'd0', url: `http://127.0.0.1:${port}/d0` }]),
    );
    const auth = `Bearer ${await token(server.url)}`;
    const pid = server.child.pid!;
    const startMb = rssMb(pid);
    let peak = startMb;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
    const body = JSON.stringify({
      Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient', Destinations: [{ ID: 'd0' }] },
      Patient: { Identifiers: [{ ID: 'x', IDType: 'MR' }], Notes: ['y'.repeat(bodyMb * MB)] },
    });
    const agent = new Agent({ connections: clients });
    const answers: Record<number, number> = {};
    let acked = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let attempt = 0; attempt < 60; attempt++) {
          let res;
          try {
            res = await request(`${server.url}/endpoint`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json', authorization: auth },
              dispatcher: agent,
            });
            await res.body.text();
          } catch {
            // A connection error (the server closed it on a refusal, say) is answered by retrying.
            answers[0] = (answers[0] ?? 0) + 1;
            await sleep(1000 * (0.5 + Math.random()));
            continue;
          }
          answers[res.statusCode] = (answers[res.statusCode] ?? 0) + 1;
          if (res.statusCode === 200) return void acked++;
          await sleep(Number(res.headers['retry-after'] ?? 1) * 1000 * (0.5 + Math.random()));
        }
      }),
    );
    const deadline = Date.now() + 120_000;
    let delivered = 0;
    while (delivered < acked && Date.now() < deadline) {
      delivered = ((await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as { total: number }).total;
      await sleep(200);
    }
    clearInterval(sampler);
    await agent.close();
    await stop(server.child);
    const problems: string[] = [];
    if (delivered < acked) problems.push(`${acked - delivered} acknowledged messages not delivered`);
    if (Object.keys(answers).some((s) => Number(s) >= 500 && Number(s) !== 503))
      problems.push('a 5xx other than 503');
    if (peak > 600) problems.push(`peak RSS ${Math.round(peak)} MB, over the 600 MB target`);
    return {
      name: `memory flood: ${clients} x ${bodyMb} MB at once`,
      figures: {
        'RSS at start (MB)': Math.round(startMb),
        'peak RSS (MB)': Math.round(peak),
        'target peak (MB)': 600,
        answers: Object.entries(answers)
          .map(([s, n]) => `${s} x${n}`)
          .join(', '),
        'acknowledged / delivered': `${acked} / ${delivered}`,
      },
      problems,
    };
  } finally {
    await stop(receivers);
    dir.remove();
  }
}

/** A receiver that answers 429 with `Retry-After: 10` for 25 s: how many attempts it gets. */
export async function retryAfter(seconds = 25): Promise<Outcome> {
  let attempts = 0;
  let refusing = true;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      attempts++;
      if (refusing) res.writeHead(429, { 'retry-after': '10' }).end('{}');
      else res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/d`;
  const dir = tempDir('chaos-retry-after');
  try {
    const server = await startSwitchboard(writeConfig(dir.path, [{ id: 'd0', url }]));
    const auth = `Bearer ${await token(server.url)}`;
    const sent = await fetch(`${server.url}/endpoint`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: payload(1, 1024, 'd0'),
    });
    await sleep(seconds * 1000);
    const during = attempts;
    refusing = false;
    await stop(server.child);
    const expected = Math.ceil(seconds / 10) + 1;
    return {
      name: `receiver answers 429 with Retry-After: 10 for ${seconds} s`,
      figures: {
        accepted: sent.status,
        'attempts it got': during,
        'at most (one per 10 s)': expected,
        'before (issue 15)': 21,
      },
      problems: [
        ...(sent.status === 200 ? [] : [`the message was answered ${sent.status}`]),
        ...(during > expected ? [`${during} attempts in ${seconds} s`] : []),
        ...(during === 0 ? ['never attempted'] : []),
      ],
    };
  } finally {
    receiver.closeAllConnections();
    receiver.close();
    dir.remove();
  }
}

/** 1,000 wrong secrets at ~32/s for one client ID: how many were even checked. */
export async function bruteForce(tries = 1_000, perSecond = 32): Promise<Outcome> {
  const dir = tempDir('chaos-brute');
  try {
    const server = await startSwitchboard(writeConfig(dir.path, [{ id: 'd0', url: 'http://127.0.0.1:9/x' }]));
    const answers: Record<number, number> = {};
    const started = performance.now();
    for (let i = 0; i < tries; i++) {
      const res = await fetch(`${server.url}/v2/auth/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: 'bench-client',
          client_secret: `guess-${i}`,
        }),
      });
      await res.text();
      answers[res.status] = (answers[res.status] ?? 0) + 1;
      const due = started + ((i + 1) * 1000) / perSecond;
      if (due > performance.now()) await sleep(due - performance.now());
    }
    await stop(server.child);
    const checked = answers[401] ?? 0;
    return {
      name: `${tries} wrong secrets for one client at ${perSecond}/s`,
      figures: {
        'checked (401)': checked,
        'refused unchecked (429)': answers[429] ?? 0,
        'before (issue 15)': `${tries} checked`,
      },
      problems: checked > tries / 10 ? [`${checked} guesses checked`] : [],
    };
  } finally {
    dir.remove();
  }
}

/** `GET /` + CRLF and then nothing: how long until the server answers or closes. */
export async function incompleteRequestLine(): Promise<Outcome> {
  const dir = tempDir('chaos-slowloris');
  try {
    const server = await startSwitchboard(writeConfig(dir.path, [{ id: 'd0', url: 'http://127.0.0.1:9/x' }]));
    const { port } = new URL(server.url);
    const started = performance.now();
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET /\r\n'));
      let text = '';
      socket.on('data', (c) => (text += c.toString()));
      socket.on('close', () => resolve(text));
      setTimeout(() => socket.destroy(), 70_000).unref();
    });
    const seconds = (performance.now() - started) / 1000;
    await stop(server.child);
    const status = /^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? 'none';
    return {
      name: 'an incomplete request line, then nothing (default headers timeout 30 s)',
      figures: { answer: status, 'after (s)': seconds.toFixed(1) },
      problems: status === '408' && seconds < 35 ? [] : [`answer ${status} after ${seconds.toFixed(1)} s`],
    };
  } finally {
    dir.remove();
  }
}

/**
 * Two instances on one PostgreSQL, leaseMs 3000; one is frozen with SIGSTOP for 7 s, then
 * resumed, `rounds` times, while messages flow to 20 destinations through the other. The
 * receiver counts per-destination order violations: a resumed instance that sent its stale
 * attempts after the other's later logs would show here (issue 15: 11 of 12 did, before fencing).
 * The same run, one round, is test/scale/stall.test.ts (chaos/stall.ts).
 */
export async function stalledInstance(rounds = 3): Promise<Outcome> {
  const { createTestDatabase } = await import('../test/helpers/pg-database.ts');
  const database = await createTestDatabase('chaos_stall');
  try {
    // Receivers 5 ms away and a 12,000-message backlog, so both instances are busy delivering
    // when one freezes.
    const result = await frozenInstance({
      databaseUrl: database.url,
      rounds,
      destinations: 20,
      backlog: 12_000,
      delayMs: 5,
    });
    const problems: string[] = [];
    if (result.violations > 0)
      problems.push(`${result.violations} deliveries after a later log of their destination`);
    if (result.lost.length > 0) problems.push(`${result.lost.length} acknowledged not delivered`);
    if (result.mismatched.length > 0)
      problems.push(`${result.mismatched.length} arrivals not the message sent`);
    return {
      name: `an instance frozen (SIGSTOP) 7 s x ${rounds}, leaseMs 3000, PostgreSQL`,
      figures: {
        acknowledged: result.acknowledged,
        'delivered (distinct)': result.delivered,
        lost: result.lost.length,
        'redelivered (same log again)': result.duplicates,
        'order violations': result.violations,
        'before (issue 15)': '11 of 12 duplicates after later logs',
      },
      problems,
    };
  } finally {
    await database.drop();
  }
}
