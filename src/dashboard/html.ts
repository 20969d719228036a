/**
 * The dashboard's one template helper: `html` escapes every interpolated value unless it is
 * already `Html` (built by `html` itself, or `raw` for the few fixed fragments). Arrays are
 * joined. So a payload holding `<img src=x onerror=...>` is shown as text, never run.
 */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

export type Interpolated = Html | string | number | boolean | null | undefined | readonly Interpolated[];

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolated[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** Trusted markup, written in this code base: never a value from a request or the store. */
export function raw(text: string): Html {
  return new Html(text);
}

/** `?a=1&b=2` of the defined values, for links that keep a search's filters. */
export function queryString(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

export function time(ms: number | null | undefined): string {
  return ms === null || ms === undefined
    ? '—'
    : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}
