export type {
  CreateRunInput,
  EventRecord,
  ExecutionFilter,
  ExecutionOutcome,
  ExecutionRecord,
  LeasePolicy,
  ListEventsOptions,
  ListExecutionsOptions,
  ListRunsOptions,
  NewEvent,
  PruneRunsOptions,
  PruneRunsResult,
  RunHolder,
  RunRecord,
  RunStatus,
  RunStore,
  SetRunStatusOptions,
  StepDoneInput,
  StepFailedInput,
  StepRecord,
  StepStatus,
  StoredError,
  UnlockOptions,
} from './run-store.js';
export { DEFAULT_LEASE, RUN_STATUSES, TERMINAL_RUN_STATUSES } from './run-store.js';
export { SqliteRunStore } from './sqlite-run-store.js';
export { asyncRunStore } from './async-run-store.js';
export type { AsyncRunStore } from './async-run-store.js';
// The class only: `pg` itself is imported when a store is opened, so nothing else pays for the driver.
export { PostgresRunStore } from './postgres/index.js';
export type { PostgresRunStoreOptions } from './postgres/index.js';
export { isProcessAlive } from '../core/process-liveness.js';
export type { SqliteRunStoreOptions } from './sqlite-run-store.js';
export { assertSha256, sha256Hex } from './artifact-store.js';
export type { ArtifactCallOptions, ArtifactGetOptions, ArtifactStore } from './artifact-store.js';
export { LocalArtifactStore } from './local-artifact-store.js';
export { S3ArtifactStore } from './s3-artifact-store.js';
export type { S3ArtifactStoreOptions, S3Credentials } from './s3-artifact-store.js';
export { openArtifactStore, parseS3Location } from './open-artifact-store.js';
export type { OpenArtifactStoreOptions } from './open-artifact-store.js';
export { openWorkspaceStore } from './workspace-store.js';
export type { WorkspaceStore, WorkspaceStoreOptions } from './workspace-store.js';
export { SCHEMA_VERSION } from './migrations.js';
export { collectGarbage } from './workspace-gc.js';
export type { CollectGarbageOptions, CollectGarbageResult } from './workspace-gc.js';
