import type { z } from 'zod';
import { ApiError } from '../errors.ts';

/** Validates query-string or body parameters; the error (400) names the bad parameter. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = issue?.path.join('.') || 'request';
  throw new ApiError('INVALID_FIELD', `Invalid parameter ${name}: ${issue?.message ?? 'invalid'}`);
}
