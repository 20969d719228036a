import type { AlertOutbox } from './roles/alert-outbox.ts';
import type { CatalogStore } from './roles/catalog-store.ts';
import type { IntakeStore } from './roles/intake-store.ts';
import type { StoreLifecycle } from './roles/lifecycle.ts';
import type { OneTimeKeyStore } from './roles/one-time-key-store.ts';
import type { OperatorStore } from './roles/operator-store.ts';
import type { QueueStore } from './roles/queue-store.ts';
import type { RetentionStore } from './roles/retention-store.ts';

/**
 * The store, composed of one interface per job. Each consumer is handed only the role it uses:
 * the dispatcher `queues`, the platform routes `operators`, the accept path `intake`, the
 * notifier `alerts`, the purger `retention`. The HTTP layer and the delivery engine never see
 * SQL or a connection; each implementation (`sqlite/`, `postgres/`) owns its own, shares the
 * SQL that is the same in `sql/`, and passes the contract suite in `test/store/contract.ts`.
 *
 * Every write resolves only after its transaction is durably committed.
 */
export interface Store extends StoreLifecycle, StoreRoles {}

/** The roles of a store, by the name it has them under. */
export interface StoreRoles {
  readonly catalog: CatalogStore;
  readonly intake: IntakeStore;
  readonly queues: QueueStore;
  readonly operators: OperatorStore;
  readonly oneTimeKeys: OneTimeKeyStore;
  readonly alerts: AlertOutbox;
  readonly retention: RetentionStore;
}

export type RoleName = keyof StoreRoles;
