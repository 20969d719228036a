import { ApiError } from '../errors.ts';
import type { CatalogChangeResult } from '../store/roles/catalog-store.ts';

/**
 * The answer to a catalog change the store refused. Not-found answers never name the id, so that
 * another organization's id answers exactly like one that never existed.
 */
export function refusal(
  result: Extract<CatalogChangeResult, { ok: false }>,
  label: string,
  id: string,
  configFile: string | undefined,
): ApiError {
  const what = `${label} "${id}"`;
  switch (result.reason) {
    case 'exists':
      return new ApiError('CONFLICT', `${what} already exists`);
    case 'missing':
      return new ApiError('NOT_FOUND', `${label} not found`);
    case 'file':
      return new ApiError(
        'CONFLICT',
        `${what} is declared in the config file${configFile ? ` (${configFile})` : ''}; change it there`,
      );
    case 'pending':
      return new ApiError(
        'CONFLICT',
        `${what} still has ${result.detail ?? 'some'} pending logs; delete with ?force=true to fail them`,
      );
    case 'client_id_taken':
      return new ApiError('CONFLICT', 'That clientId is already used by another source');
    case 'not_empty':
      return new ApiError('CONFLICT', `${what} still has sources or destinations; delete them first`);
    case 'unknown_source':
      return new ApiError('INVALID_FIELD', 'Invalid parameter source: no such source in this organization');
    case 'unknown_destination':
      return new ApiError(
        'INVALID_FIELD',
        'Invalid parameter destination: no such destination in this organization',
      );
    case 'duplicate_subscription':
      return new ApiError(
        'CONFLICT',
        `Subscription "${result.detail ?? '?'}" already routes this source, data model and destination`,
      );
  }
}
