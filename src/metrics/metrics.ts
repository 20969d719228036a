import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricsSettings } from '../config.ts';
import type { AttemptReport } from '../delivery/dispatcher.ts';
import type { QueueState } from '../models/log.ts';
import type { OperatorStore, QueueSummary } from '../store/roles/operator-store.ts';

const QUEUE_STATES: QueueState[] = ['active', 'blocked', 'paused'];

/**
 * Switchboard's Prometheus metrics (SPEC 6), with prom-client, in a registry of their own. The
 * counters and histograms are this process's; the queue gauges are read from the store at
 * scrape time (one bounded query per `queueCacheMs`, however many scrapers), so every instance
 * reports the same queues.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #accepted: Counter<'organization' | 'source'>;
  readonly #attempts: Counter<'organization' | 'destination' | 'outcome'>;
  readonly #deliveryLatency: Histogram<'organization' | 'destination'>;
  readonly #attemptDuration: Histogram<'organization' | 'destination'>;
  readonly #httpRequests: Counter<'route' | 'status'>;
  readonly #httpDuration: Histogram<'route' | 'status'>;
  readonly #queues: () => Promise<QueueSummary[]>;

  constructor(deps: {
    operators: Pick<OperatorStore, 'listQueues'>;
    settings: MetricsSettings;
    now: () => number;
  }) {
    const registers = [this.registry];
    this.#accepted = new Counter({
      name: 'switchboard_accepted_total',
      help: 'Messages accepted (answered 200 and stored), by organization and source.',
      labelNames: ['organization', 'source'],
      registers,
    });
    this.#attempts = new Counter({
      name: 'switchboard_attempts_total',
      help: 'Delivery attempts recorded, by outcome (a 2xx with warnings counts as succeeded).',
      labelNames: ['organization', 'destination', 'outcome'],
      registers,
    });
    this.#deliveryLatency = new Histogram({
      name: 'switchboard_delivery_latency_seconds',
      help: 'From a message being accepted to its destination receiving it.',
      labelNames: ['organization', 'destination'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600],
      registers,
    });
    this.#attemptDuration = new Histogram({
      name: 'switchboard_attempt_duration_seconds',
      help: 'One delivery attempt: request sent to answer read (or the failure).',
      labelNames: ['organization', 'destination'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#httpRequests = new Counter({
      name: 'switchboard_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.#httpDuration = new Histogram({
      name: 'switchboard_http_request_duration_seconds',
      help: 'HTTP requests, from arrival to answer sent, by route pattern and status.',
      labelNames: ['route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers,
    });

    let cached: { at: number; queues: Promise<QueueSummary[]> } | undefined;
    this.#queues = () => {
      const now = deps.now();
      if (!cached || now - cached.at >= deps.settings.queueCacheMs) {
        const queues = deps.operators.listQueues();
        // A failed read is not kept: the next scrape tries again.
        queues.catch(() => (cached = undefined));
        cached = { at: now, queues };
      }
      return cached.queues;
    };
    const queueGauge = (
      name: string,
      help: string,
      fill: (gauge: Gauge<string>, queue: QueueSummary, labels: Record<string, string>) => void,
      extraLabels: string[] = [],
    ): void => {
      const queues = this.#queues;
      new Gauge({
        name,
        help,
        labelNames: ['organization', 'destination', ...extraLabels],
        registers,
        async collect() {
          const all = await queues();
          this.reset();
          for (const queue of all)
            fill(this, queue, { organization: queue.orgId, destination: queue.destinationId });
        },
      });
    };
    queueGauge('switchboard_queue_depth', 'Logs waiting in a destination queue.', (gauge, queue, labels) =>
      gauge.set(labels, queue.depth),
    );
    queueGauge(
      'switchboard_queue_oldest_age_seconds',
      'Age of the oldest log waiting in a destination queue (0 when it is empty).',
      (gauge, queue, labels) =>
        gauge.set(
          labels,
          queue.oldestQueuedAt === null ? 0 : Math.max(0, (deps.now() - queue.oldestQueuedAt) / 1000),
        ),
    );
    queueGauge(
      'switchboard_queue_blocked_keys',
      'Ordering keys of a destination whose head log failed and waits for a retry (the other keys flow).',
      (gauge, queue, labels) => gauge.set(labels, queue.blockedKeys),
    );
    queueGauge(
      'switchboard_queue_oldest_blocked_age_seconds',
      "How long a destination's longest-blocked ordering key has been blocked (0 when none is).",
      (gauge, queue, labels) =>
        gauge.set(
          labels,
          queue.oldestBlockedAt === null ? 0 : Math.max(0, (deps.now() - queue.oldestBlockedAt) / 1000),
        ),
    );
    queueGauge(
      'switchboard_queue_state',
      "A destination queue's state: 1 for the current one (active, blocked, paused), 0 for the others.",
      (gauge, queue, labels) => {
        for (const state of QUEUE_STATES) gauge.set({ ...labels, state }, queue.state === state ? 1 : 0);
      },
      ['state'],
    );
  }

  accepted(orgId: string, sourceId: string): void {
    this.#accepted.inc({ organization: orgId, source: sourceId });
  }

  attempted(report: AttemptReport): void {
    const labels = { organization: report.orgId, destination: report.destinationId };
    const delivered = report.outcome !== 'failed';
    this.#attempts.inc({ ...labels, outcome: delivered ? 'succeeded' : 'failed' });
    this.#attemptDuration.observe(labels, report.durationMs / 1000);
    if (delivered)
      this.#deliveryLatency.observe(labels, Math.max(0, report.finishedAt - report.receivedAt) / 1000);
  }

  /** `route` is the route's pattern (never the raw path: IDs would make a series each). */
  answered(route: string, status: number, seconds: number): void {
    const labels = { route, status: String(status) };
    this.#httpRequests.inc(labels);
    this.#httpDuration.observe(labels, seconds);
  }
}
