import type { CatalogChangeResult, CatalogEntity, CatalogOp } from '../roles/catalog-store.ts';
import {
  putDestination,
  putOrganization,
  putPlatformKey,
  putSource,
  putSubscription,
} from './catalog-rows.ts';
import type { Executor } from './database.ts';

type Refusal = Extract<CatalogChangeResult, { ok: false }>;
type Applied = { ok: true; failedLogs?: number } | Refusal;

const TABLES: Record<CatalogEntity, { table: string; where: string }> = {
  organization: { table: 'organizations', where: 'id = :id' },
  source: { table: 'sources', where: 'org_id = :orgId AND id = :id' },
  destination: { table: 'destinations', where: 'org_id = :orgId AND id = :id' },
  subscription: { table: 'subscriptions', where: 'org_id = :orgId AND id = :id' },
  platformKey: { table: 'platform_keys', where: 'org_id = :orgId AND id = :id' },
};

/** The row's origin, or undefined when there is no such row. */
async function originOf(
  tx: Executor,
  entity: CatalogEntity,
  orgId: string,
  id: string,
): Promise<string | undefined> {
  const { table, where } = TABLES[entity];
  const row = await tx.get<{ origin: string }>(`SELECT origin FROM ${table} WHERE ${where}`, { orgId, id });
  return row?.origin;
}

/** Refuses a create over an existing row, and an update or delete of a missing or file row. */
async function check(
  tx: Executor,
  kind: CatalogOp['kind'],
  entity: CatalogEntity,
  orgId: string,
  id: string,
): Promise<Refusal | undefined> {
  const origin = await originOf(tx, entity, orgId, id);
  if (kind === 'create') return origin === undefined ? undefined : { ok: false, reason: 'exists' };
  if (origin === undefined) return { ok: false, reason: 'missing' };
  if (origin === 'file') return { ok: false, reason: 'file' };
  return undefined;
}

/**
 * One Platform API change, inside the caller's transaction (which holds the catalog lock), so
 * that its checks still hold at the commit. Every refusal comes before the op's first write.
 */
export async function applyCatalogOp(tx: Executor, op: CatalogOp, at: number): Promise<Applied> {
  if (op.kind === 'delete') return remove(tx, op, at);
  const orgId = op.entity === 'organization' ? op.value.id : op.value.orgId;
  const refused = await check(tx, op.kind, op.entity, orgId, op.value.id);
  if (refused) return refused;
  switch (op.entity) {
    case 'organization':
      await putOrganization(tx, op.value, 'api');
      break;
    case 'source': {
      const taken = await tx.get<{ org_id: string; id: string }>(
        `SELECT org_id, id FROM sources WHERE client_id = :clientId AND NOT (org_id = :orgId AND id = :id)`,
        { clientId: op.value.clientId, orgId, id: op.value.id },
      );
      if (taken) return { ok: false, reason: 'client_id_taken' };
      await putSource(tx, op.value, 'api');
      break;
    }
    case 'destination':
      await putDestination(tx, op.value, 'api');
      break;
    case 'subscription': {
      const s = op.value;
      if (!(await originOf(tx, 'source', orgId, s.sourceId))) return { ok: false, reason: 'unknown_source' };
      if (!(await originOf(tx, 'destination', orgId, s.destinationId)))
        return { ok: false, reason: 'unknown_destination' };
      const same = await tx.get<{ id: string }>(
        `SELECT id FROM subscriptions WHERE org_id = :orgId AND source_id = :sourceId
           AND data_model = :dataModel AND destination_id = :destinationId AND id <> :id`,
        { orgId, sourceId: s.sourceId, dataModel: s.dataModel, destinationId: s.destinationId, id: s.id },
      );
      if (same) return { ok: false, reason: 'duplicate_subscription', detail: same.id };
      // An update may change the row's natural key: the old row goes first.
      await tx.run('DELETE FROM subscriptions WHERE org_id = :orgId AND id = :id', { orgId, id: s.id });
      await putSubscription(tx, s, 'api');
      break;
    }
    case 'platformKey':
      await putPlatformKey(tx, op.value, 'api');
      break;
  }
  return { ok: true };
}

async function remove(
  tx: Executor,
  op: Extract<CatalogOp, { kind: 'delete' }>,
  at: number,
): Promise<Applied> {
  const { entity, orgId, id } = op;
  const refused = await check(tx, 'delete', entity, orgId, id);
  if (refused) return refused;
  let failedLogs: number | undefined;
  switch (entity) {
    case 'organization': {
      const left = await tx.get<{ n: number }>(
        `SELECT (SELECT count(*) FROM sources WHERE org_id = :id) + (SELECT count(*) FROM destinations WHERE org_id = :id) AS n`,
        { id },
      );
      if (Number(left?.n ?? 0) > 0) return { ok: false, reason: 'not_empty' };
      await tx.run('DELETE FROM platform_keys WHERE org_id = :id', { id });
      await tx.run('DELETE FROM subscriptions WHERE org_id = :id', { id });
      break;
    }
    case 'source':
      await tx.run('DELETE FROM subscriptions WHERE org_id = :orgId AND source_id = :id', { orgId, id });
      break;
    case 'destination': {
      const queue = await tx.get<{ pending_count: number }>(
        'SELECT pending_count FROM queues WHERE org_id = :orgId AND destination_id = :id',
        { orgId, id },
      );
      const pending = Number(queue?.pending_count ?? 0);
      if (pending > 0 && op.forceReason === undefined)
        return { ok: false, reason: 'pending', detail: String(pending) };
      if (pending > 0)
        failedLogs = await tx.run(
          `UPDATE logs SET status = 'failed', next_attempt_at = NULL, failed_reason = :reason, updated_at = :at
           WHERE org_id = :orgId AND destination_id = :id AND status = 'pending'`,
          { orgId, id, reason: op.forceReason ?? null, at },
        );
      // The lease goes too: an attempt in flight then finds it gone and its record is dropped.
      await tx.run(
        `UPDATE queues SET pending_count = 0, keyed_count = 0, pending_from = next_seq, lease_owner = NULL,
           lease_expires_at = NULL, alert_log_id = NULL, paused_by = NULL, paused_reason = NULL, paused_at = NULL
         WHERE org_id = :orgId AND destination_id = :id`,
        { orgId, id },
      );
      await tx.run('DELETE FROM queue_keys WHERE org_id = :orgId AND destination_id = :id', { orgId, id });
      await tx.run('DELETE FROM subscriptions WHERE org_id = :orgId AND destination_id = :id', { orgId, id });
      break;
    }
    case 'subscription':
    case 'platformKey':
      break;
  }
  const { table, where } = TABLES[entity];
  await tx.run(`DELETE FROM ${table} WHERE ${where}`, { orgId, id });
  return failedLogs === undefined ? { ok: true } : { ok: true, failedLogs };
}
