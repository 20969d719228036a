/** Validates query-string or body parameters; the error names the bad parameter. */
export { parseInput as parseQuery } from '../../lib/parse-input.ts';
