import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { seedPostgresHistory } from '../helpers/history.ts';
import { createTestDatabase } from '../helpers/pg-database.ts';
import { storeContract } from './contract.ts';
import { orderingKeysContract } from './ordering-keys-contract.ts';

/**
 * The PostgreSQL store against the contract, each test on a fresh database. There is no skip:
 * without a reachable server (TEST_DATABASE_URL, default 127.0.0.1:5432) these tests fail.
 */
storeContract('PostgreSQL', async () => {
  const database = await createTestDatabase('contract');
  return {
    store: new PostgresStore({ url: database.url, poolSize: 8 }),
    cleanup: () => database.drop(),
    seedHistory: (spec) => seedPostgresHistory(database.url, spec),
  };
});

orderingKeysContract('PostgreSQL', async () => {
  const database = await createTestDatabase('keys');
  return {
    store: new PostgresStore({ url: database.url, poolSize: 8 }),
    cleanup: () => database.drop(),
    seedHistory: (spec) => seedPostgresHistory(database.url, spec),
  };
});
