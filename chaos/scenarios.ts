import type { ChildProcess } from 'node:child_process';
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
          const res = await request(`${server.url}/endpoint`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json', authorization: auth },
            dispatcher: agent,
          });
          await res.body.text();
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
 * receivers count per-destination order violations: a resumed instance that sent its stale
 * attempts after the other's later logs would show here (issue 15: 11 of 12 did, before fencing).
 */
export async function stalledInstance(rounds = 3): Promise<Outcome> {
  const { createTestDatabase } = await import('../test/helpers/pg-database.ts');
  const MESSAGES_BEFORE = 12_000;
  const database = await createTestDatabase('chaos_stall');
  const port = await freePort();
  // Receivers 5 ms away, so both instances are busy delivering a backlog when one freezes.
  const receivers = spawnNode(['bench/key-receivers.ts'], { PORT: String(port), DELAY_MS: '5' });
  const dir = tempDir('chaos-stall');
  const children: ChildProcess[] = [];
  try {
    await waitHttp(`http://127.0.0.1:${port}/stats`);
    const destinations = Array.from({ length: 20 }, (_, i) => ({
      id: `d${i}`,
      url: `http://127.0.0.1:${port}/d${i}`,
    }));
    const config = writeConfig(dir.path, destinations, { delivery: { leaseMs: 3_000, pollIntervalMs: 200 } });
    const env = { DATABASE_URL: database.url };
    const a = await startSwitchboard(config, env);
    const b = await startSwitchboard(config, env);
    children.push(a.child, b.child);
    const auth = `Bearer ${await token(b.url)}`;
    const bodies = destinations.map((d, i) => payload(i, 512, d.id));
    let sending = true;
    let acked = 0;
    let n = 0;
    // A backlog first, 600 messages per destination, through the instance to be frozen: its
    // own wake-up makes it claim the queues first, so it is mid-delivery when it freezes.
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (n < MESSAGES_BEFORE) {
          const res = await fetch(`${a.url}/endpoint`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: auth },
            body: bodies[n++ % bodies.length],
          });
          await res.text();
          if (res.status === 200) acked++;
        }
      }),
    );
    const sender = (async () => {
      while (sending) {
        const res = await fetch(`${b.url}/endpoint`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: auth },
          body: bodies[n++ % bodies.length],
        });
        await res.text();
        if (res.status === 200) acked++;
        await sleep(5);
      }
    })();
    for (let round = 0; round < rounds; round++) {
      a.child.kill('SIGSTOP');
      await sleep(7_000);
      a.child.kill('SIGCONT');
      await sleep(3_000);
    }
    sending = false;
    await sender;
    const deadline = Date.now() + 120_000;
    let stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as {
      total: number;
      violations: number;
      repeats: number;
    };
    while (stats.total - stats.repeats < acked && Date.now() < deadline) {
      await sleep(250);
      stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as typeof stats;
    }
    const problems: string[] = [];
    if (stats.violations > 0)
      problems.push(`${stats.violations} deliveries after a later log of their destination`);
    if (stats.total - stats.repeats < acked)
      problems.push(`${acked - (stats.total - stats.repeats)} acknowledged not delivered`);
    return {
      name: `an instance frozen (SIGSTOP) 7 s x ${rounds}, leaseMs 3000, PostgreSQL`,
      figures: {
        acknowledged: acked,
        delivered: stats.total,
        'redelivered (same log again)': stats.repeats,
        'order violations': stats.violations,
        'before (issue 15)': '11 of 12 duplicates after later logs',
      },
      problems,
    };
  } finally {
    for (const child of children) {
      child.kill('SIGCONT');
      await stop(child);
    }
    await stop(receivers);
    dir.remove();
    await database.drop();
  }
}
