// npm run chaos: fault scenarios against real processes, each printing its figures and failing
// on any loss, order violation, unexpected 5xx or leak; the figures go to docs/reliability.md.
// Not part of `npm test` (bounded versions of each scenario are tests). CHAOS=name,name runs some.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { ROOT } from '../bench/lib.ts';
import {
  bruteForce,
  incompleteRequestLine,
  memoryFlood,
  retryAfter,
  stalledInstance,
  type Outcome,
} from './scenarios.ts';
import { killLoop, terminatedConnections } from './process-faults.ts';
import { receiverFaults } from './receiver-faults.ts';
import { fullDisk } from './full-disk.ts';
import { fuzz } from './fuzz.ts';

const SCENARIOS: Record<string, () => Promise<Outcome>> = {
  flood: () => memoryFlood(),
  'retry-after': () => retryAfter(),
  'brute-force': () => bruteForce(),
  slowloris: () => incompleteRequestLine(),
  stall: () => stalledInstance(),
  'kill-sqlite': () => killLoop('sqlite'),
  'kill-postgres': () => killLoop('postgres'),
  'pg-terminate': () => terminatedConnections(),
  'receiver-faults': () => receiverFaults(),
  'full-disk': () => fullDisk(),
  fuzz: () => fuzz(),
};

const chosen = (process.env.CHAOS ?? Object.keys(SCENARIOS).join(',')).split(',');
const outcomes: Outcome[] = [];
for (const name of chosen) {
  const run = SCENARIOS[name];
  if (!run) throw new Error(`no scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const outcome = await run();
  outcomes.push(outcome);
  console.log(`\n${outcome.problems.length === 0 ? 'PASS' : 'FAIL'} ${outcome.name}`);
  for (const [k, v] of Object.entries(outcome.figures)) console.log(`  ${k}: ${v}`);
  for (const p of outcome.problems) console.log(`  BROKE: ${p}`);
}

// The generated part of docs/reliability.md, between its markers.
const file = join(ROOT, 'docs/reliability.md');
const [head, rest] = readFileSync(file, 'utf8').split('<!-- chaos:start -->');
const tail = rest?.split('<!-- chaos:end -->')[1] ?? '\n';
// One section per scenario, its figures as a list: a table cell cannot hold them readably.
const sections = outcomes.map(
  (o) =>
    `### ${o.problems.length === 0 ? 'PASS' : 'FAIL'}: ${o.name}\n\n` +
    Object.entries(o.figures)
      .map(([k, v]) => `- ${k}: ${v}`)
      .join('\n') +
    o.problems.map((p) => `\n- **broke: ${p}**`).join(''),
);
const text = `${head}<!-- chaos:start -->\nLast \`npm run chaos\` (${new Date().toISOString().slice(0, 10)}, ${process.env.CHAOS ?? 'every scenario'}):\n\n${sections.join('\n\n')}\n<!-- chaos:end -->${tail}`;
writeFileSync(file, await format(text, { ...(await resolveConfig(file)), filepath: file }));
process.exit(outcomes.some((o) => o.problems.length > 0) ? 1 : 0);
