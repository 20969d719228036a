// FHIR R4 validation of a typical message Bundle (MessageHeader, Patient, Encounter), in this
// process: the one-time load of @medplum/core and the compacted definitions (time and memory),
// then the time per Bundle. Budgets (issue 13): memory +60 MB, load +300 ms, p99 < 2 ms.
// Run alone: node --expose-gc bench/fhir-validation.ts
import { validateFhir } from '../src/models/fhir-validation.ts';

export interface FhirValidationResult {
  loadMs: number;
  rssMb: number;
  p50: number;
  p99: number;
}

const REF = 'urn:uuid:6f1c2a4e-1111-4c2b-9a3e-000000000002';
const BUNDLE = {
  resourceType: 'Bundle',
  type: 'message',
  entry: [
    {
      fullUrl: 'urn:uuid:6f1c2a4e-1111-4c2b-9a3e-000000000001',
      resource: {
        resourceType: 'MessageHeader',
        eventCoding: { system: 'urn:events', code: 'admit-notification' },
        source: { endpoint: 'urn:ehr' },
        focus: [{ reference: REF }],
      },
    },
    {
      fullUrl: REF,
      resource: {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:mrn', value: 'MRN-1' }],
        name: [{ family: 'Lovelace', given: ['Ada'] }],
        birthDate: '1815-12-10',
        gender: 'female',
        address: [{ line: ['1 Main St'], city: 'London', postalCode: 'W1' }],
      },
    },
    {
      resource: {
        resourceType: 'Encounter',
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
        subject: { reference: REF },
        period: { start: '2026-12-01T10:00:00Z' },
      },
    },
  ],
};

export async function runFhirValidation(): Promise<FhirValidationResult> {
  const rss = process.memoryUsage().rss;
  const started = performance.now();
  await validateFhir({ resourceType: 'Patient' });
  const loadMs = performance.now() - started;
  (globalThis as { gc?: () => void }).gc?.();
  const rssMb = (process.memoryUsage().rss - rss) / 1e6;
  const times: number[] = [];
  for (let i = 0; i < 5_000; i++) {
    const t = performance.now();
    if ((await validateFhir(BUNDLE)).length > 0) throw new Error('the bench Bundle is not valid R4');
    if (i >= 500) times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return {
    loadMs,
    rssMb,
    p50: times[Math.floor(times.length / 2)] ?? 0,
    p99: times[Math.floor(times.length * 0.99)] ?? 0,
  };
}

export function printFhirValidation(r: FhirValidationResult): void {
  const met = r.rssMb <= 60 && r.loadMs <= 300 && r.p99 < 2;
  console.log('\nFHIR R4 validation of a message Bundle (@medplum/core, compacted definitions)');
  console.log(
    `first load ${r.loadMs.toFixed(0)} ms, memory +${r.rssMb.toFixed(0)} MB RSS; per Bundle p50 ${r.p50.toFixed(3)} ms, ` +
      `p99 ${r.p99.toFixed(3)} ms (targets +60 MB, +300 ms, p99 < 2 ms: ${met ? 'met' : 'NOT met'})`,
  );
}

if (import.meta.main) printFhirValidation(await runFhirValidation());
