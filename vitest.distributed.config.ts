import { defineConfig } from 'vitest/config';

/**
 * `npm run test:distributed`: the suites that need PostgreSQL, Redis and an S3 endpoint. Each file starts the
 * throw-away servers it needs (test/support/: a temp `initdb` cluster, `redis-server` with noeviction + AOF,
 * s3rver) on loopback ports of its own; the binaries come from Debian packages that `.ci/run` installs.
 * One file at a time: they start and kill servers and worker processes, and the machine has 2 cores.
 */
export default defineConfig({
  test: {
    include: ['test/distributed/**/*.test.ts'],
    // The worker and orchestrator processes are the compiled CLI: rebuild dist/ when src/ changed since.
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
