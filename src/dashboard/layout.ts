import { html, raw, type Html, type Interpolated } from './html.ts';

/** Who is signed in, and what every page needs to render its forms. */
export interface PageContext {
  csrf: string;
  orgId: string;
  orgName: string;
  /** Signed in with the admin key: the organization switcher and creation are shown. */
  admin: boolean;
  organizations: { id: string; name: string }[];
  actor: string;
}

const NAV: [string, string][] = [
  ['logs', 'Logs'],
  ['queues', 'Queues'],
  ['config', 'Configuration'],
  ['alerts', 'Alerts'],
  ['audit', 'Audit'],
];

// htmx without eval, inline scripts or its injected indicator <style>: all of it works under
// `script-src 'self'; style-src 'self'`. Error pages (4xx) are shown too: they explain a refusal.
const HTMX_CONFIG = raw(
  `<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}'>`,
);

export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}" />`;
}

export function notice(text: string | undefined, kind: 'ok' | 'error' = 'ok'): Html {
  return text
    ? html`<p class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</p>`
    : html``;
}

function shell(title: string, body: Html): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Switchboard</title>
        ${HTMX_CONFIG}
        <link rel="icon" href="/dashboard/assets/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/dashboard/assets/dashboard.css" />
        <script src="/dashboard/assets/htmx.min.js" defer></script>
      </head>
      <body hx-boost="true">
        ${body}
      </body>
    </html>`.text;
}

/** A signed-in page: navigation, the organization, sign-out, then the content. */
export function page(ctx: PageContext, title: string, active: string, content: Html, message?: Html): string {
  const switcher = ctx.admin
    ? html`<form method="post" action="/dashboard/organization" class="switcher">
        ${csrfField(ctx)}
        <label for="org-switch">Organization</label>
        <select id="org-switch" name="orgId">
          ${ctx.organizations.map((o) => html`<option value="${o.id}" ${o.id === ctx.orgId ? raw('selected') : ''}>${o.name} (${o.id})</option>`)}
        </select>
        <button type="submit">Switch</button>
      </form>`
    : html`<span class="org">${ctx.orgName}</span>`;
  return shell(
    title,
    html`<header>
        <a class="brand" href="/dashboard/logs">Switchboard</a>
        <nav aria-label="Main">
          <ul>
            ${NAV.map(([id, label]) => html`<li><a href="/dashboard/${id}" ${id === active ? raw('aria-current="page"') : ''}>${label}</a></li>`)}
          </ul>
        </nav>
        <div class="who">
          ${switcher}
          <span class="actor">${ctx.actor}</span>
          <form method="post" action="/dashboard/sign-out">
            ${csrfField(ctx)}<button type="submit">Sign out</button>
          </form>
        </div>
      </header>
      <main id="main">
        <h1>${title}</h1>
        ${message ?? ''} ${content}
      </main>`,
  );
}

export function signInPage(error?: string): string {
  return shell(
    'Sign in',
    html`<main id="main" class="sign-in">
      <h1>Switchboard</h1>
      <form method="post" action="/dashboard/sign-in" hx-boost="false">
        ${notice(error, 'error')}
        <label for="key">Platform API key (or the admin key)</label>
        <input id="key" name="key" type="password" autocomplete="current-password" required />
        <button type="submit">Sign in</button>
      </form>
    </main>`,
  );
}

export function errorPage(ctx: PageContext | undefined, status: number, message: string): string {
  const content = html`${notice(message, 'error')}
    <p><a href="/dashboard/logs">Back to the logs</a></p>`;
  if (!ctx)
    return shell(
      `Error ${status}`,
      html`<main id="main">
        <h1>Error ${status}</h1>
        ${content}
      </main>`,
    );
  return page(ctx, `Error ${status}`, '', content);
}

/** A table of rows under column headings, scrolled sideways on a narrow screen. */
export function dataTable(headings: string[], rows: Interpolated): Html {
  return html`<div class="table">
    <table>
      <thead>
        <tr>
          ${headings.map((h) => html`<th scope="col">${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`;
}
