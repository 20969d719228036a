// Delivery: 100,000 messages over 100 destinations with fast local receivers. The messages are
// accepted first (delivery off), then a fresh process delivers them all while we time it, and the
// receivers check FIFO per destination. Baseline in the same run: the same number of POSTs sent
// straight to the same receivers by 100 sequential workers (the raw HTTP ceiling).
// Run alone: node bench/delivery.ts   (BENCH_MESSAGES, default 100000)
import { Agent, request } from 'undici';
import {
  fmt,
  freePort,
  payload,
  spawnNode,
  startSwitchboard,
  stop,
  tempDir,
  cpuSeconds,
  token,
  waitHttp,
  writeConfig,
  pool,
  waitDelivered,
  type ReceiverStats,
} from './lib.ts';
import { PREVIOUS } from './previous.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const DESTINATIONS = 100;

export interface DeliveryResult {
  messages: number;
  acceptSeconds: number;
  deliverSeconds: number;
  rawSeconds: number;
  /** CPU seconds the delivering Switchboard process used from ready to the last delivery. */
  deliverCpuSeconds: number;
  stats: ReceiverStats;
}

export async function runDelivery(messages = MESSAGES): Promise<DeliveryResult> {
  const dir = tempDir('delivery');
  const receiverPort = await freePort();
  const receivers = spawnNode(['bench/receivers.ts'], { PORT: String(receiverPort) });
  const receiverBase = `http://127.0.0.1:${receiverPort}`;
  try {
    await waitHttp(`${receiverBase}/stats`);
    const destinations = Array.from({ length: DESTINATIONS }, (_, i) => ({
      id: `d${i}`,
      url: `${receiverBase}/d${i}`,
    }));

    // 1. Accept every message with delivery off.
    const config = writeConfig(dir.path, destinations, { delivery: { enabled: false } });
    const accepting = await startSwitchboard(config);
    const auth = `Bearer ${await token(accepting.url)}`;
    const agent = new Agent({ connections: 64 });
    const bodies = destinations.map((d, i) => payload(i, 1024, d.id));
    const acceptStart = performance.now();
    await pool(64, messages, async (n) => {
      const res = await request(`${accepting.url}/endpoint`, {
        method: 'POST',
        body: bodies[n % DESTINATIONS],
        headers: { 'content-type': 'application/json', authorization: auth },
        dispatcher: agent,
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`accept: ${res.statusCode}`);
    });
    const acceptSeconds = (performance.now() - acceptStart) / 1000;
    await stop(accepting.child);

    // 2. A fresh process delivers them; the clock runs from its start to the last delivery.
    const deliverConfig = writeConfig(dir.path, destinations);
    const deliverStart = performance.now();
    const delivering = await startSwitchboard(deliverConfig);
    const cpuAtReady = cpuSeconds(delivering.child.pid);
    const seen = await waitDelivered(receiverBase, messages);
    const deliverSeconds = (performance.now() - deliverStart) / 1000;
    const deliverCpuSeconds = cpuSeconds(delivering.child.pid) - cpuAtReady;
    await stop(delivering.child);

    // 3. The raw ceiling: the same POSTs straight to the receivers, 100 sequential workers.
    await fetch(`${receiverBase}/reset`, { method: 'POST' });
    const raw = new Agent({ connections: DESTINATIONS });
    const rawStart = performance.now();
    await pool(DESTINATIONS, messages, async (n) => {
      const res = await request(`${receiverBase}/d${n % DESTINATIONS}`, {
        method: 'POST',
        body: bodies[n % DESTINATIONS],
        headers: { 'content-type': 'application/json' },
        dispatcher: raw,
      });
      await res.body.text();
    });
    const rawSeconds = (performance.now() - rawStart) / 1000;
    await Promise.all([agent.close(), raw.close()]);
    return { messages, acceptSeconds, deliverSeconds, rawSeconds, deliverCpuSeconds, stats: seen };
  } finally {
    await stop(receivers);
    dir.remove();
  }
}

export function printDelivery(r: DeliveryResult): void {
  const delivered = r.stats.total / r.deliverSeconds;
  const rawRate = r.messages / r.rawSeconds;
  console.log(
    `\nDelivery: ${fmt(r.messages)} messages over ${DESTINATIONS} destinations, fast local receivers`,
  );
  console.log(`accepted (64 clients, durable):   ${fmt(r.messages / r.acceptSeconds).padStart(8)} msg/s`);
  console.log(
    `delivered (start to last):        ${fmt(delivered).padStart(8)} deliveries/s  (${fmt(r.stats.total)} in ${r.deliverSeconds.toFixed(1)} s)`,
  );
  const steady = r.stats.total / Math.max(0.001, (r.stats.lastAt - r.stats.firstAt) / 1000);
  console.log(
    `delivered (first to last):        ${fmt(steady).padStart(8)} deliveries/s  (without process start-up)`,
  );
  console.log(
    `Switchboard CPU per delivery:     ${fmt((r.deliverCpuSeconds / r.stats.total) * 1e6).padStart(8)} µs  (user + system, all threads)`,
  );
  console.log(`raw HTTP ceiling (100 workers):   ${fmt(rawRate).padStart(8)} requests/s`);
  console.log(
    `ratio delivered/raw: ${((delivered / rawRate) * 100).toFixed(1)}%   (target >= 10,000 deliveries/s: ${delivered >= 10_000 ? 'met' : 'NOT met'})`,
  );
  console.log(
    `FIFO per destination: ${r.stats.violations} out-of-order deliveries, ${r.stats.repeats} repeats (expected 0 and 0)`,
  );
  console.log(
    `before the store rework (${PREVIOUS.date}): ${fmt(PREVIOUS.delivery.perSecond)} deliveries/s, ` +
      `${PREVIOUS.delivery.cpuMicros} µs CPU each; now ${fmt((r.deliverCpuSeconds / r.stats.total) * 1e6)} µs`,
  );
}

if (import.meta.main) printDelivery(await runDelivery());
