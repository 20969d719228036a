import { ApiError } from '../errors.ts';
import type { Source, ValidationMode } from '../models/entities.ts';
import { validatePayload } from '../models/validation.ts';

/**
 * The source's validation policy applied to one payload (SPEC 2.2): `strict` refuses a payload
 * with problems (400, one `Meta.Errors[]` item each, nothing stored), `warn` accepts it and
 * answers the problems to record on its logs, `off` checks nothing. An event type the data
 * model does not have is refused unless validation is off.
 */
export function checkPayload(
  source: Source,
  payload: unknown,
  dataModel: string,
  eventType: string,
  echo: Record<string, unknown>,
): string[] {
  const mode: ValidationMode = source.validation ?? 'strict';
  if (mode === 'off') return [];
  const result = validatePayload(payload, dataModel, eventType);
  if (result.kind === 'valid') return [];
  if (result.kind === 'unknown_event')
    throw new ApiError('INVALID_FIELD', `Unknown event type - ${eventType} is not an event of ${dataModel}`, {
      echo,
    });
  if (mode === 'warn') return result.problems;
  throw new ApiError('INVALID_FIELD', result.problems[0] ?? 'Invalid payload', {
    echo,
    texts: result.problems,
  });
}
