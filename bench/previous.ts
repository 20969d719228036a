// The figures the README showed before the store was reworked (issue 10), measured on 2026-11-30
// on this machine: printed beside today's so a change that costs throughput shows. The machine's
// speed moves by tens of percent from hour to hour, so compare CPU per request first.
export const PREVIOUS = {
  date: '2026-11-30',
  accept: { requestsPerSecond: 14_568, cpuMicros: 80, bareRequestsPerSecond: 57_750 },
  delivery: { perSecond: 14_322, cpuMicros: 70 },
  postgres: { acceptedPerSecond: 8_395, deliveredPerSecond: 7_021 },
  backlog: { sqlite: 770, postgres: 370 },
} as const;
