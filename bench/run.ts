// npm run bench: every benchmark in one run, each against its baseline measured in the same run.
// Not part of the tests. BENCH_SECONDS (load duration), BENCH_MESSAGES (delivery volume),
// BENCH_KEY_MESSAGES (ordering keys, 20 ms away), BENCH_PG_JOBS (PostgreSQL workload; needs TEST_DATABASE_URL's server, default 127.0.0.1:5432),
// BENCH_BACKLOG (one destination's backlog), BENCH_HISTORY (retained logs, e.g. 0,100000,1000000).
import { printAccept, runAccept } from './accept.ts';
import { printBacklog, runBacklog } from './backlog.ts';
import { printHistory, runHistory } from './history.ts';
import { printFhirValidation, runFhirValidation } from './fhir-validation.ts';
import { printDelivery, runDelivery } from './delivery.ts';
import { printOrderingKeys, runOrderingKeys } from './ordering-keys.ts';
import { printPostgres, runPostgres } from './postgres.ts';
import { printQueryLatency, runQueryLatency } from './query-latency.ts';

console.log(`Switchboard benchmarks on ${process.version}, ${(await import('node:os')).cpus().length} cores`);
printFhirValidation(await runFhirValidation());
printAccept(await runAccept());
printDelivery(await runDelivery());
printOrderingKeys(await runOrderingKeys());
printQueryLatency(await runQueryLatency());
printPostgres(await runPostgres());
printBacklog([await runBacklog('sqlite'), await runBacklog('postgres')]);
printHistory([await runHistory('sqlite'), await runHistory('postgres')]);
process.exit(0);
