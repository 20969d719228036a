import type { QueueView } from '../../models/log.ts';
import { html, raw, time, type Html } from '../html.ts';
import { csrfField, dataTable, type PageContext } from '../layout.ts';

const age = (ms: number | null): string => {
  if (ms === null) return '—';
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7_200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3_600)} h`;
};

/** The queues table; refreshes itself every few seconds (htmx polling of this fragment). */
export function queuesTable(
  ctx: PageContext,
  queues: { name: string; view: QueueView }[],
  now: number,
): Html {
  return html`<div
    id="queues"
    hx-get="/dashboard/queues/table"
    hx-trigger="every 3s"
    hx-swap="outerHTML"
    aria-live="polite"
  >
    ${
      queues.length === 0
        ? html`<p class="empty">No destination yet.</p>`
        : html`${dataTable(
            ['Destination', 'State', 'Depth', 'Oldest queued', 'Head log', 'Last error', 'Actions'],
            queues.map(
              ({ name, view: q }) =>
                html`<tr id="queue-${q.destinationId}">
                    <th scope="row">${name} <span class="mono">(${q.destinationId})</span></th>
                    <td>
                      <span class="state ${q.state}">${q.state}</span
                      >${q.paused ? html`<br /><small>by ${q.paused.by}${q.paused.reason ? html`: ${q.paused.reason}` : ''}</small>` : ''}
                    </td>
                    <td>${q.depth}</td>
                    <td>${age(q.oldestQueuedAt === null ? null : now - q.oldestQueuedAt)}</td>
                    <td>
                      ${q.head ? html`<a href="/dashboard/logs/${q.head.id}" class="mono">${q.head.id.slice(0, 13)}…</a>` : '—'}
                    </td>
                    <td>
                      ${q.lastError ? html`${time(q.lastError.at)} ${q.lastError.statusCode ? `HTTP ${q.lastError.statusCode}` : ''} ${q.lastError.error ?? ''}` : '—'}
                    </td>
                    <td class="queue-actions">
                      ${
                        q.state === 'paused'
                          ? html`<form method="post" action="/dashboard/queues/${q.destinationId}/resume">
                                ${csrfField(ctx)}<button type="submit" aria-label="Resume ${name}">
                                  Resume
                                </button>
                              </form>
                              <form
                                method="post"
                                action="/dashboard/queues/${q.destinationId}/skip"
                                class="skip"
                              >
                                ${csrfField(ctx)}
                                <label for="reason-${q.destinationId}">Reason</label>
                                <input id="reason-${q.destinationId}" name="reason" maxlength="2000" />
                                <button
                                  type="submit"
                                  aria-label="Skip the head log of ${name}"
                                  ${q.head ? '' : raw('disabled')}
                                >
                                  Skip
                                </button>
                              </form>`
                          : html`<form method="post" action="/dashboard/queues/${q.destinationId}/pause">
                              ${csrfField(ctx)}<button type="submit" aria-label="Pause ${name}">Pause</button>
                            </form>`
                      }
                    </td>
                  </tr>
                  ${q.blockedKeys.count > 0 ? blockedKeysRow(ctx, name, q, now) : ''}`,
            ),
          )}`
    }
  </div>`;
}

/**
 * A keyed destination's blocked ordering keys (SPEC 5.2): each waits for its head's retry while
 * the other keys flow; Skip fails that key's head, with the operator's name.
 */
function blockedKeysRow(ctx: PageContext, name: string, q: QueueView, now: number): Html {
  const { count, keys } = q.blockedKeys;
  return html`<tr class="blocked-keys">
    <td colspan="7">
      <details open>
        <summary>
          ${count} blocked ordering
          key${count === 1 ? '' : 's'}${count > keys.length ? ` (the ${keys.length} longest blocked)` : ''}
        </summary>
        ${dataTable(
          ['Key', 'Depth', 'Blocked for', 'Head log', 'Last error', 'Actions'],
          keys.map(
            (k) =>
              html`<tr>
                <th scope="row" class="mono">${k.key === '' ? '(no value)' : k.key}</th>
                <td>${k.depth}</td>
                <td>${age(now - k.blockedSince)}</td>
                <td>
                  ${k.head ? html`<a href="/dashboard/logs/${k.head.id}" class="mono">${k.head.id.slice(0, 13)}…</a>` : '—'}
                </td>
                <td>
                  ${k.lastError ? html`${time(k.lastError.at)} ${k.lastError.statusCode ? `HTTP ${k.lastError.statusCode}` : ''} ${k.lastError.error ?? ''}` : '—'}
                </td>
                <td>
                  <form method="post" action="/dashboard/queues/${q.destinationId}/skip">
                    ${csrfField(ctx)}<input type="hidden" name="key" value="${k.key}" />
                    <button type="submit" aria-label="Skip the head log of key ${k.key} of ${name}">
                      Skip
                    </button>
                  </form>
                </td>
              </tr>`,
          ),
        )}
      </details>
    </td>
  </tr>`;
}
