export { PostgresRunStore } from './postgres-run-store.js';
export type { PostgresRunStoreOptions } from './postgres-run-store.js';
