import assert from 'node:assert/strict';
import parsePrometheusTextFormat, { type Family, type Sample } from 'parse-prometheus-text-format';
import { request } from './harness.ts';

/**
 * A server's /metrics, read with a Prometheus text-format parser (parse-prometheus-text-format,
 * a port of the Prometheus client's own parser). That parser folds the label sets of a
 * histogram into one, so histograms are read a second time with their TYPE lines left out:
 * their `_bucket`, `_sum` and `_count` series then come back as plain labelled samples.
 */
export async function scrape(
  harness: { url: string },
  headers: Record<string, string> = {},
): Promise<Map<string, Family>> {
  const res = await request(harness.url, 'GET', '/metrics', { headers });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = res.body as string;
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  const untyped = text.replace(/^# TYPE \S+ histogram\n/gm, '');
  // prom-client writes a histogram's series label set by label set, so a name comes back in runs.
  for (const family of parsePrometheusTextFormat(untyped))
    if (/_(bucket|sum|count)$/.test(family.name)) {
      const seen = families.get(family.name);
      if (seen) seen.metrics.push(...family.metrics);
      else families.set(family.name, family);
    }
  return families;
}

export function sample(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string>,
): Sample | undefined {
  return families
    .get(name)
    ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
}

export const value = (families: Map<string, Family>, name: string, labels: Record<string, string>): number =>
  Number(sample(families, name, labels)?.value ?? NaN);
