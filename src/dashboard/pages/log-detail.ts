import type { LogDetail, QueueView } from '../../models/log.ts';
import { html, time, type Html } from '../html.ts';
import { csrfField, dataTable, type PageContext } from '../layout.ts';
import { logRows } from './logs.ts';

type Names = (kind: 'source' | 'destination', id: string) => string;

const nextAttempt = (at: number | null, now: number, afterHead: boolean): string => {
  const when = at === null ? '—' : at <= now ? 'due now' : time(at);
  return afterHead ? `after the head is delivered (the head's next attempt: ${when})` : when;
};

/**
 * Why a pending log is still queued: the queue's state, the log's place in it, the head that
 * holds it and that head's last error, and when the next attempt is due.
 */
function whyQueued(detail: LogDetail, queue: QueueView | undefined, now: number): Html {
  const { log } = detail;
  if (log.status !== 'pending') return html``;
  if (!queue)
    return html`<section aria-labelledby="why">
      <h2 id="why">Why it is still queued</h2>
      <p>Its destination no longer exists.</p>
    </section>`;
  const head = queue.head;
  const isHead = head?.id === log.id;
  const ahead =
    head && log.sequence !== null && head.sequence !== null
      ? Math.max(0, log.sequence - head.sequence)
      : null;
  const reason =
    queue.state === 'paused'
      ? html`The queue is
          <strong>paused</strong
          >${queue.paused ? html` by ${queue.paused.by} since ${time(queue.paused.at)}${queue.paused.reason ? html`: “${queue.paused.reason}”` : ''}` : ''}.`
      : isHead
        ? log.attemptCount > 0
          ? html`This log is the head of its queue and its destination has refused it ${log.attemptCount}
            times; it is retried until it gets through (or an operator skips it).`
          : html`This log is the head of its queue and is being delivered now.`
        : queue.state === 'blocked'
          ? html`The queue is <strong>blocked</strong> by its head log, which the destination keeps refusing.`
          : html`Logs ahead of it are being delivered, in order.`;
  return html`<section aria-labelledby="why" class="why">
    <h2 id="why">Why it is still queued</h2>
    <p>${reason}</p>
    <dl>
      <dt>Queue</dt>
      <dd>
        <a href="/dashboard/queues#queue-${log.destinationId ?? ''}">${queue.state}</a>, ${queue.depth}
        pending
      </dd>
      <dt>Place in the queue</dt>
      <dd>
        ${isHead ? 'head (next to be delivered)' : ahead === null ? '—' : `${ahead} ahead of it by sequence`}
      </dd>
      <dt>Head log</dt>
      <dd>${head ? html`<a href="/dashboard/logs/${head.id}" class="mono">${head.id}</a>` : '—'}</dd>
      <dt>Head's last error</dt>
      <dd>
        ${queue.lastError ? html`${time(queue.lastError.at)}: ${queue.lastError.statusCode ? `HTTP ${queue.lastError.statusCode}` : ''} ${queue.lastError.error ?? ''}` : '—'}
      </dd>
      <dt>Next attempt</dt>
      <dd>${nextAttempt(isHead ? log.nextAttemptAt : (head?.nextAttemptAt ?? null), now, !isHead)}</dd>
    </dl>
  </section>`;
}

export function logDetailPage(
  ctx: PageContext,
  detail: LogDetail,
  queue: QueueView | undefined,
  names: Names,
  now: number,
): Html {
  const { log } = detail;
  const copies = detail.related.filter((r) => r.retryOf === log.id);
  return html`<dl class="facts">
      <dt>Log ID</dt>
      <dd class="mono">${log.id}</dd>
      <dt>Status</dt>
      <dd>
        <span class="status ${log.status}">${log.state ? `${log.status} (${log.state})` : log.status}</span
        >${log.failedReason ? html` — ${log.failedReason}` : ''}
      </dd>
      <dt>Data model</dt>
      <dd>${log.dataModel} · ${log.eventType}${log.test ? ' · test' : ''}</dd>
      <dt>Source</dt>
      <dd>${names('source', log.sourceId)}</dd>
      <dt>Destination</dt>
      <dd>${log.destinationId ? names('destination', log.destinationId) : '—'}</dd>
      <dt>Message</dt>
      <dd>${log.messageId}</dd>
      <dt>Sequence</dt>
      <dd>${log.sequence ?? '—'}</dd>
      <dt>Created</dt>
      <dd>${time(log.createdAt)}</dd>
      <dt>Retry of</dt>
      <dd>
        ${log.retryOf ? html`<a href="/dashboard/logs/${log.retryOf}" class="mono">${log.retryOf}</a>` : '—'}
      </dd>
      <dt>Retried as</dt>
      <dd>
        ${copies.length ? copies.map((c) => html`<a href="/dashboard/logs/${c.id}" class="mono">${c.id}</a> `) : '—'}
      </dd>
    </dl>
    ${log.destinationId ? html`<form method="post" action="/dashboard/logs/${log.id}/retry">${csrfField(ctx)}<button type="submit">Retry</button></form>` : ''}
    ${whyQueued(detail, queue, now)}
    ${
      detail.problems.length
        ? html`<section aria-labelledby="problems" class="why">
            <h2 id="problems">Validation problems</h2>
            <p>Accepted anyway: the source's validation is set to <code>warn</code>.</p>
            <ul>
              ${detail.problems.map((p) => html`<li>${p}</li>`)}
            </ul>
          </section>`
        : ''
    }
    <section aria-labelledby="attempts">
      <h2 id="attempts">Attempts</h2>
      ${
        detail.attempts.length === 0
          ? html`<p class="empty">No attempt yet.</p>`
          : html`${dataTable(
              ['#', 'Started', 'Outcome', 'Status code', 'Duration', 'Error', 'Response'],
              detail.attempts.map(
                (a) =>
                  html`<tr>
                    <td>${a.number}</td>
                    <td>${time(a.startedAt)}</td>
                    <td>${a.outcome}</td>
                    <td>${a.statusCode ?? '—'}</td>
                    <td>${a.durationMs} ms</td>
                    <td>${a.error ?? ''}</td>
                    <td><code>${(a.responseExcerpt ?? '').slice(0, 300)}</code></td>
                  </tr>`,
              ),
            )}`
      }
    </section>
    <section aria-labelledby="payload">
      <h2 id="payload">Payload</h2>
      <pre class="payload" tabindex="0">${JSON.stringify(detail.payload, null, 2)}</pre>
    </section>
    <section aria-labelledby="related">
      <h2 id="related">Related logs of the same message</h2>
      ${logRows(detail.related, names)}
    </section>`;
}
