import type { Log } from '../../models/log.ts';
import { html, queryString, raw, time, type Html } from '../html.ts';
import { csrfField, dataTable, type PageContext } from '../layout.ts';

/** The search form's values as typed (strings), kept in links and the next page's cursor. */
export type SearchForm = Partial<
  Record<
    'q' | 'status' | 'dataModel' | 'eventType' | 'sourceId' | 'destinationId' | 'test' | 'from' | 'to',
    string
  >
>;

export const SEARCH_FIELDS = [
  'q',
  'status',
  'dataModel',
  'eventType',
  'sourceId',
  'destinationId',
  'test',
  'from',
  'to',
] as const;

const statusLabel = (log: Log): string => (log.state ? `${log.status} (${log.state})` : log.status);

const select = (id: string, label: string, value: string | undefined, options: [string, string][]): Html =>
  html`<div class="field">
    <label for="${id}">${label}</label
    ><select id="${id}" name="${id}">
      <option value="">any</option>
      ${options.map(([v, text]) => html`<option value="${v}" ${v === value ? raw('selected') : ''}>${text}</option>`)}
    </select>
  </div>`;

const input = (
  id: string,
  label: string,
  value: string | undefined,
  type = 'text',
  extra: Html = html``,
): Html =>
  html`<div class="field">
    <label for="${id}">${label}</label
    ><input id="${id}" name="${id}" type="${type}" value="${value ?? ''}" ${extra} />
  </div>`;

export function logRows(logs: Log[], names: (kind: 'source' | 'destination', id: string) => string): Html {
  if (logs.length === 0) return html`<p class="empty">No log matches.</p>`;
  return html`${dataTable(
    ['Log', 'Created', 'Status', 'Data model', 'Event', 'Source', 'Destination'],
    logs.map(
      (log) =>
        html`<tr>
          <td>
            <a href="/dashboard/logs/${log.id}" class="mono">${log.id.slice(0, 13)}…</a
            >${log.test ? html` <span class="tag">test</span>` : ''}
          </td>
          <td>${time(log.createdAt)}</td>
          <td><span class="status ${log.status}">${statusLabel(log)}</span></td>
          <td>${log.dataModel}</td>
          <td>${log.eventType}</td>
          <td>${names('source', log.sourceId)}</td>
          <td>${log.destinationId ? names('destination', log.destinationId) : '—'}</td>
        </tr>`,
    ),
  )}`;
}

export function logsPage(
  ctx: PageContext,
  form: SearchForm,
  result: { logs: Log[]; nextCursor: string | null },
  choices: { sources: [string, string][]; destinations: [string, string][]; dataModels: string[] },
  names: (kind: 'source' | 'destination', id: string) => string,
): Html {
  const kept = queryString(form);
  return html`<form method="get" action="/dashboard/logs" class="search" role="search">
      ${input('q', 'Patient identifier or text (MRN, visit, order…)', form.q, 'search')}
      ${select('status', 'Status', form.status, [
        ['pending', 'pending'],
        ['succeeded', 'succeeded'],
        ['failed', 'failed'],
        ['filtered', 'filtered'],
      ])}
      ${select(
        'dataModel',
        'Data model',
        form.dataModel,
        choices.dataModels.map((m) => [m, m]),
      )}
      ${input('eventType', 'Event type', form.eventType)}
      ${select('sourceId', 'Source', form.sourceId, choices.sources)}
      ${select('destinationId', 'Destination', form.destinationId, choices.destinations)}
      ${select('test', 'Test messages', form.test, [
        ['false', 'production only'],
        ['true', 'test only'],
      ])}
      ${input('from', 'From (UTC)', form.from, 'datetime-local')}
      ${input('to', 'To (UTC)', form.to, 'datetime-local')}
      <div class="actions"><button type="submit">Search</button> <a href="/dashboard/logs">Clear</a></div>
    </form>
    ${logRows(result.logs, names)}
    <p class="pager">
      ${result.nextCursor ? html`<a href="/dashboard/logs${kept ? `${kept}&` : '?'}cursor=${encodeURIComponent(result.nextCursor)}">Older logs</a>` : ''}
      ${result.logs.length > 0 ? html`<a href="/dashboard/logs/retry${kept}">Retry every log of this search…</a>` : ''}
    </p>`;
}

/** "Retry 37 logs?": the dry run's count first, then a button that does it. */
export function bulkRetryConfirm(ctx: PageContext, form: SearchForm, count: number): Html {
  const kept = queryString(form);
  return html`<p>
      This search matches <strong>${count}</strong> logs with a destination. Retrying puts a copy of each at
      the back of its destination's queue, in their original order.
    </p>
    <form method="post" action="/dashboard/logs/retry${kept}">
      ${csrfField(ctx)}
      <button type="submit" ${count === 0 ? raw('disabled') : ''}>Retry ${count} logs</button>
      <a href="/dashboard/logs${kept}">Cancel</a>
    </form>`;
}

export function bulkRetryDone(made: { id: string; retryOf: string }[]): Html {
  return html`<p role="status"><strong>${made.length}</strong> logs retried.</p>
    <ul class="ids">
      ${made.slice(0, 100).map((m) => html`<li><a href="/dashboard/logs/${m.id}" class="mono">${m.id}</a> (retry of <span class="mono">${m.retryOf}</span>)</li>`)}
    </ul>
    ${made.length > 100 ? html`<p>… and ${made.length - 100} more.</p>` : ''}
    <p><a href="/dashboard/logs">Back to the logs</a></p>`;
}
