import type { Alert } from '../../models/alert.ts';
import type { StoredAuditEntry } from '../../models/audit.ts';
import type { Destination, Organization, Source, Subscription } from '../../models/entities.ts';
import { html, raw, time, type Html } from '../html.ts';
import { csrfField, dataTable, type PageContext } from '../layout.ts';

const field = (id: string, label: string, extra: Html = html``, type = 'text', value = ''): Html =>
  html`<div class="field">
    <label for="${id}">${label}</label
    ><input id="${id}" name="${id.split('-').at(-1) ?? id}" type="${type}" value="${value}" ${extra} />
  </div>`;

const environmentSelect = (id: string, value = 'production'): Html =>
  html`<div class="field">
    <label for="${id}">Environment</label
    ><select id="${id}" name="environment">
      ${['production', 'staging', 'development'].map((e) => html`<option ${e === value ? raw('selected') : ''}>${e}</option>`)}
    </select>
  </div>`;

const managed = (origin: string | undefined): Html =>
  origin === 'file'
    ? html`<span class="tag" title="Declared in the config file: change it there">config file</span>`
    : html``;

export interface ConfigData {
  org: Organization;
  sources: Source[];
  destinations: Destination[];
  subscriptions: Subscription[];
  dataModels: string[];
}

export function configPage(ctx: PageContext, data: ConfigData): Html {
  const { org } = data;
  return html` <section aria-labelledby="profile">
      <h2 id="profile">Organization profile</h2>
      <form method="post" action="/dashboard/config/organization" class="grid">
        ${csrfField(ctx)} ${field('org-name', 'Name', raw('required'), 'text', org.name)}
        ${field('org-alertEmail', 'Alert email', html``, 'email', org.alertEmail ?? '')}
        <div class="field wide">
          <label for="org-alertWebhooks">Alert webhooks (one URL per line)</label>
          <textarea id="org-alertWebhooks" name="alertWebhooks" rows="2">
${(org.alertWebhooks ?? []).join('\n')}</textarea>
        </div>
        <div class="actions"><button type="submit">Save profile</button> ${managed(org.origin)}</div>
      </form>
    </section>

    <section aria-labelledby="destinations">
      <h2 id="destinations">Destinations</h2>
      ${dataTable(
        ['ID', 'Name', 'Environment', 'URL', 'Actions'],
        data.destinations.map(
          (d) =>
            html`<tr>
              <th scope="row" class="mono">${d.id}</th>
              <td>${d.name} ${managed(d.origin)}</td>
              <td>${d.environment}</td>
              <td class="mono">${d.url}</td>
              <td class="row-actions">
                <form method="post" action="/dashboard/config/destinations/${d.id}/verify">
                  ${csrfField(ctx)}<button type="submit" aria-label="Verify ${d.name}">Verify</button>
                </form>
                ${
                  d.origin === 'file'
                    ? ''
                    : html`<a href="/dashboard/config/destinations/${d.id}">Edit</a>
                        <form method="post" action="/dashboard/config/destinations/${d.id}/delete">
                          ${csrfField(ctx)}<button type="submit" aria-label="Delete ${d.name}">Delete</button>
                        </form>`
                }
              </td>
            </tr>`,
        ),
      )}
      <details>
        <summary>Create a destination</summary>
        <form method="post" action="/dashboard/config/destinations" class="grid">
          ${csrfField(ctx)}
          ${field('dest-id', 'ID', raw('required'))}${field('dest-name', 'Name', raw('required'))}${environmentSelect('dest-environment')}
          ${field('dest-url', 'URL', raw('required'), 'url')}${field('dest-fhirBaseUrl', 'FHIR base URL', html``, 'url')}
          ${field('dest-verificationToken', 'Verification token', raw('autocomplete="off"'), 'password')}${field('dest-signingSecret', 'Signing secret', raw('autocomplete="off"'), 'password')}
          <div class="actions"><button type="submit">Create destination</button></div>
        </form>
      </details>
    </section>

    <section aria-labelledby="sources">
      <h2 id="sources">Sources</h2>
      ${dataTable(
        ['ID', 'Name', 'Environment', 'Client ID', 'Actions'],
        data.sources.map(
          (s) =>
            html`<tr>
              <th scope="row" class="mono">${s.id}</th>
              <td>
                ${s.name} ${managed(s.origin)}${s.disabled ? html` <span class="tag">disabled</span>` : ''}
              </td>
              <td>${s.environment}</td>
              <td class="mono">${s.clientId}</td>
              <td class="row-actions">
                ${
                  s.origin === 'file'
                    ? ''
                    : html`<form method="post" action="/dashboard/config/sources/${s.id}/secret">
                          ${csrfField(ctx)}<button type="submit" aria-label="Rotate the secret of ${s.name}">
                            Rotate secret
                          </button>
                        </form>
                        <form method="post" action="/dashboard/config/sources/${s.id}/delete">
                          ${csrfField(ctx)}<button type="submit" aria-label="Delete ${s.name}">Delete</button>
                        </form>`
                }
              </td>
            </tr>`,
        ),
      )}
      <details>
        <summary>Create a source</summary>
        <form method="post" action="/dashboard/config/sources" class="grid">
          ${csrfField(ctx)}
          ${field('src-id', 'ID', raw('required'))}${field('src-name', 'Name', raw('required'))}${environmentSelect('src-environment')}${field('src-clientId', 'Client ID', raw('required'))}
          <div class="actions">
            <button type="submit">Create source</button> <small>Its client secret is shown once.</small>
          </div>
        </form>
      </details>
    </section>

    <section aria-labelledby="subscriptions">
      <h2 id="subscriptions">Subscriptions</h2>
      ${dataTable(
        ['Source', 'Data model', 'Event types', 'Destination', 'Actions'],
        data.subscriptions.map(
          (s) =>
            html`<tr>
              <td class="mono">${s.sourceId}</td>
              <td>${s.dataModel} ${managed(s.origin)}</td>
              <td>${s.eventTypes?.join(', ') ?? 'all'}</td>
              <td class="mono">${s.destinationId}</td>
              <td>
                ${s.origin === 'file' ? '' : html`<form method="post" action="/dashboard/config/subscriptions/${s.id}/delete">${csrfField(ctx)}<button type="submit" aria-label="Delete the subscription ${s.id}">Delete</button></form>`}
              </td>
            </tr>`,
        ),
      )}
      <details>
        <summary>Create a subscription</summary>
        <form method="post" action="/dashboard/config/subscriptions" class="grid">
          ${csrfField(ctx)}
          <div class="field">
            <label for="sub-source">Source</label
            ><select id="sub-source" name="source" required>
              ${data.sources.map((s) => html`<option value="${s.id}">${s.name} (${s.id})</option>`)}
            </select>
          </div>
          <div class="field">
            <label for="sub-dataModel">Data model</label
            ><select id="sub-dataModel" name="dataModel" required>
              ${data.dataModels.map((m) => html`<option>${m}</option>`)}
            </select>
          </div>
          ${field('sub-eventTypes', 'Event types (comma-separated; empty: all)')}
          <div class="field">
            <label for="sub-destination">Destination</label
            ><select id="sub-destination" name="destination" required>
              ${data.destinations.map((d) => html`<option value="${d.id}">${d.name} (${d.id})</option>`)}
            </select>
          </div>
          <div class="actions"><button type="submit">Create subscription</button></div>
        </form>
      </details>
    </section>
    ${
      ctx.admin
        ? html`<section aria-labelledby="orgs">
            <h2 id="orgs">Organizations (admin)</h2>
            <form method="post" action="/dashboard/config/organizations" class="grid">
              ${csrfField(ctx)}
              ${field('neworg-id', 'ID', raw('required'))}${field('neworg-name', 'Name', raw('required'))}
              <div class="actions">
                <button type="submit">Create organization</button>
                <small>Its first platform key is shown once.</small>
              </div>
            </form>
          </section>`
        : ''
    }`;
}

export function destinationEditPage(ctx: PageContext, d: Destination): Html {
  return html`<form method="post" action="/dashboard/config/destinations/${d.id}" class="grid">
      ${csrfField(ctx)}
      ${field('edit-name', 'Name', raw('required'), 'text', d.name)}${environmentSelect('edit-environment', d.environment)}
      ${field('edit-url', 'URL', raw('required'), 'url', d.url)}${field('edit-fhirBaseUrl', 'FHIR base URL', html``, 'url', d.fhirBaseUrl ?? '')}
      ${field('edit-timeoutMs', 'Attempt timeout (ms)', raw('min="1"'), 'number', d.timeoutMs === undefined ? '' : String(d.timeoutMs))}
      <div class="actions">
        <button type="submit">Save destination</button> <a href="/dashboard/config">Cancel</a>
      </div>
    </form>
    <form method="post" action="/dashboard/config/destinations/${d.id}/delete">
      ${csrfField(ctx)}
      <label><input type="checkbox" name="force" value="true" /> Also fail its pending logs</label>
      <button type="submit">Delete</button>
    </form>`;
}

/** A secret shown once (a new source's, a rotation's, a new organization's key). */
export function secretOnce(label: string, value: string, back: string): Html {
  return html`<p role="status">${label} It is shown only this once: copy it now.</p>
    <p><output class="secret mono" aria-label="${label}">${value}</output></p>
    <p><a href="${back}">Done</a></p>`;
}

export function alertsPage(alerts: Alert[]): Html {
  if (alerts.length === 0) return html`<p class="empty">No alert has been raised.</p>`;
  return html`${dataTable(
    ['Raised', 'Kind', 'Destination', 'Log', 'Attempts', 'Error', 'Sent'],
    alerts.map(
      (a) =>
        html`<tr>
          <td>${time(a.createdAt)}</td>
          <td>${a.kind}</td>
          <td class="mono">${a.destinationId}</td>
          <td><a href="/dashboard/logs/${a.logId}" class="mono">${a.logId.slice(0, 13)}…</a></td>
          <td>${a.attempts}</td>
          <td>${a.error ?? ''}</td>
          <td>
            ${time(a.sentAt)}
            ${a.channels.map((c) => html`<span class="tag">${c.channel}: ${c.ok ? 'ok' : 'failed'}</span>`)}
          </td>
        </tr>`,
    ),
  )}`;
}

export function auditPage(entries: StoredAuditEntry[], nextCursor: string | null): Html {
  if (entries.length === 0) return html`<p class="empty">Nothing yet.</p>`;
  return html`${dataTable(
    ['When', 'Who', 'Action', 'What', 'Changes'],
    entries.map(
      (e) =>
        html`<tr>
          <td>${time(e.at)}</td>
          <td>${e.actor}</td>
          <td>${e.action}</td>
          <td>${e.resource} <span class="mono">${e.resourceId}</span></td>
          <td><code>${JSON.stringify(e.changes)}</code></td>
        </tr>`,
    ),
  )}
  ${nextCursor ? html`<p class="pager"><a href="/dashboard/audit?cursor=${encodeURIComponent(nextCursor)}">Older entries</a></p>` : ''}`;
}
