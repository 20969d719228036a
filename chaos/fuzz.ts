// The fuzz chaos scenario (issue 15): npm run chaos with CHAOS=fuzz.
import { spawn } from 'node:child_process';
import { ROOT } from '../bench/lib.ts';
import type { Outcome } from './scenarios.ts';

/** The one line test/integration/fuzz.test.ts prints at its end (`fuzz summary {...}`). */
interface FuzzSummary {
  seed: number;
  inputs: number;
  seconds: number;
  answers: Record<string, number>;
  fiveHundreds: number;
  hangs: number;
  broke: number;
  acknowledged: { messages: number; logs: number };
  stored: { messages: number; logs: number };
  unanswered: number;
}

/** Longest the run may take before it counts as hung: 10,000 inputs take about a minute. */
const LIMIT_MS = 15 * 60_000;

/**
 * The seeded fuzz of every inbound route (test/integration/fuzz.test.ts, 2,000 inputs in
 * `npm test`) with `inputs` inputs, in a child `node --test` as CI runs it (FUZZ_SEED and
 * TEST_STORE pass through). Every answer must keep its API's documented status and shape (never
 * a 5xx, never a stack trace), every input must be answered (or cut off, for slow clients), and
 * the store must hold exactly what the 200s promised; the test checks every rule after every
 * ~200 inputs, and this reads its summary line.
 */
export async function fuzz(inputs = 10_000): Promise<Outcome> {
  const began = performance.now();
  const child = spawn(
    process.execPath,
    ['--test', '--import', './test/helpers/leak-check.ts', 'test/integration/fuzz.test.ts'],
    { cwd: ROOT, env: { ...process.env, FUZZ_INPUTS: String(inputs) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const limit = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(limit);
  const seconds = ((performance.now() - began) / 1000).toFixed(1);

  const line = /fuzz summary (\{.*\})/.exec(output)?.[1];
  if (!line)
    return {
      name: `fuzz: ${inputs} generated requests over every route`,
      figures: { 'runtime (s)': seconds },
      problems: [`the fuzz run ended (exit ${code}) without its summary: ${output.slice(-2000)}`],
    };
  const summary = JSON.parse(line) as FuzzSummary;
  const { acknowledged, stored } = summary;
  const problems: string[] = [];
  if (summary.inputs < inputs) problems.push(`only ${summary.inputs} inputs ran`);
  if (summary.fiveHundreds > 0) problems.push(`${summary.fiveHundreds} answers were 5xx`);
  if (summary.hangs > 0) problems.push(`${summary.hangs} inputs were never answered or cut off`);
  if (summary.broke > 0) {
    // The test prints each broken rule with the input that broke it (first 30).
    const first = output
      .split('\n')
      .filter((l) => /BROKE:/.test(l))
      .slice(0, 3);
    problems.push(`${summary.broke} inputs broke a rule: ${first.join(' ; ')}`);
  }
  // Beyond the acknowledged, the store may hold only requests whose answer never arrived.
  if (stored.messages < acknowledged.messages || stored.messages > acknowledged.messages + summary.unanswered)
    problems.push(`${stored.messages} messages stored, ${acknowledged.messages} acknowledged`);
  if (code !== 0 && problems.length === 0) problems.push(`the fuzz test failed (exit ${code})`);
  return {
    name: `fuzz: ${summary.inputs} generated requests over every route (FUZZ_SEED=${summary.seed})`,
    figures: {
      answers: Object.entries(summary.answers)
        .map(([status, n]) => `${status} x${n}`)
        .join(', '),
      '5xx': summary.fiveHundreds,
      'unanswered (hangs)': summary.hangs,
      'broke a rule': summary.broke,
      'acknowledged / stored messages': `${acknowledged.messages} / ${stored.messages}`,
      'acknowledged / stored logs': `${acknowledged.logs} / ${stored.logs}`,
      // A raw request cut off before its answer (truncated, flipped) may still have been handled.
      'stored beyond acknowledged': `${stored.messages - acknowledged.messages} (allowed: up to ${summary.unanswered} raw requests cut off unanswered)`,
      'runtime (s)': seconds,
    },
    problems,
  };
}
