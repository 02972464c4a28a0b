import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError } from '../../src/core/error-classify.js';
import { CancelledError, StoreError, ValidationError, isStoryCoreError } from '../../src/core/errors.js';
import { PostgresRunStore } from '../../src/store/index.js';
import type { PostgresRunStoreOptions } from '../../src/store/index.js';
import { describeRunStoreContract, done, project } from '../helpers/run-store-contract.js';
import { startPostgres } from '../support/postgres.js';
import type { TestPostgres } from '../support/postgres.js';

let server: TestPostgres;
let schemas = 0;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

/** A raw client on the test server, for what the store must not offer (holding locks, rewriting rows). */
async function raw<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: server.url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function openStore(schema: string, options: PostgresRunStoreOptions = {}): Promise<PostgresRunStore> {
  return PostgresRunStore.open(server.url, { schema, ...options });
}

/** Every message and detail of an error and its causes, as text: where a leaked password would show. */
function everythingSaid(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    parts.push(String(e), JSON.stringify(e), (e as Error).stack ?? '');
    if (isStoryCoreError(e)) parts.push(JSON.stringify(e.details));
  }
  return parts.join('\n');
}

// Each test of the contract gets a schema of its own in the one server: a fresh, empty, migrated store.
describeRunStoreContract('PostgreSQL', async () => {
  const schema = `contract_${++schemas}`;
  const store = await openStore(schema);
  return {
    store,
    leaveHolder: (runId, row) =>
      raw(async (client) => {
        await client.query(
          `UPDATE ${schema}.runs SET pid = $2, hostname = $3, pid_namespace = $4,
             heartbeat_at = floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - $5 WHERE id = $1`,
          [runId, row.pid, row.hostname, row.pidNamespace, row.heartbeatAgoMs],
        );
      }),
    cleanup: async () => {
      await store.close();
      await raw((client) => client.query(`DROP SCHEMA ${schema} CASCADE`));
    },
  };
});

describe('PostgresRunStore shared by several processes (one pool each)', () => {
  it('migrates a new schema once when several processes open it at once', async () => {
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore('opened_at_once')));
    const versions = await raw((c) => c.query('SELECT version FROM opened_at_once.schema_migrations'));
    expect(versions.rows).toEqual([{ version: 1 }]);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('two pools recording the same step done at once leave one journal row and one memo row, and both calls resolve to that record', async () => {
    const [a, b] = await Promise.all([openStore('same_step'), openStore('same_step')]);
    for (let round = 0; round < 10; round++) {
      const run = await a.createRun(project(`p${round}`));
      const step = `generate:shot-${round}`;
      await Promise.all([a.recordStepStart(run.id, step, 'g'), b.recordStepStart(run.id, step, 'g')]);
      const [first, second] = await Promise.all([
        a.recordStepDone(run.id, done(step, 'g', 1)),
        b.recordStepDone(run.id, done(step, 'g', 2)),
      ]);
      expect(second).toEqual(first);
      expect(await a.listSteps(run.id)).toEqual([first]);
      const memo = await raw((c) =>
        c.query('SELECT run_id, artifacts FROM same_step.step_memo WHERE project_id = $1', [`p${round}`]),
      );
      expect(memo.rows).toEqual([{ run_id: run.id, artifacts: JSON.stringify(first.artifacts) }]);
      expect((await b.listExecutions({ runId: run.id })).map((e) => e.outcome)).toEqual(['done', 'done']);
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('concurrent appendEvents from two pools get strictly increasing seqs, no duplicates, each batch contiguous', async () => {
    const [a, b] = await Promise.all([openStore('events_at_once'), openStore('events_at_once')]);
    const run = await a.createRun(project());
    const appenders = [a, b].flatMap((store, s) =>
      Array.from({ length: 6 }, async (_, w) => {
        const got: number[][] = [];
        for (let i = 0; i < 10; i++) {
          got.push(
            await store.appendEvents(
              run.id,
              Array.from({ length: 3 }, (_, k) => ({ type: 'progress', payload: { s, w, i, k } })),
            ),
          );
        }
        return got;
      }),
    );
    const batches = (await Promise.all(appenders)).flat();
    for (const batch of batches) expect(batch).toEqual([batch[0], batch[0]! + 1, batch[0]! + 2]);
    const all = batches.flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 360 }, (_, i) => i + 1));
    const stored = await b.listEvents(run.id, { limit: 1000 });
    expect(stored.map((e) => e.seq)).toEqual(all);
    await Promise.all([a.close(), b.close()]);
  });

  it('lets exactly one of two orchestrators on different pools start the same project', async () => {
    const [a, b] = await Promise.all([openStore('start_at_once'), openStore('start_at_once')]);
    for (let round = 0; round < 5; round++) {
      const settled = await Promise.allSettled([
        a.createRun(project(`p${round}`)),
        b.createRun(project(`p${round}`)),
      ]);
      expect(settled.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected']);
    }
    await Promise.all([a.close(), b.close()]);
  });
});

describe('PostgresRunStore errors', () => {
  it('refuses a schema written by a newer StoryCore, naming both versions', async () => {
    const store = await openStore('from_the_future');
    await store.close();
    await raw((c) => c.query('INSERT INTO from_the_future.schema_migrations (version) VALUES (99)'));
    const error = await openStore('from_the_future').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(String(error)).toMatch(/version 99, newer than this StoryCore build understands \(1\)/);
  });

  it('says what is wrong with a bad URL or schema without echoing the password', async () => {
    await expect(PostgresRunStore.open('mysql://u:hunter2@h/db')).rejects.toThrow(ValidationError);
    const notUrl = await PostgresRunStore.open('postgres://u:hunter2@[bad/db').catch((e: unknown) => e);
    expect(notUrl).toBeInstanceOf(ValidationError);
    expect(everythingSaid(notUrl)).not.toContain('hunter2');
    await expect(openStore('Robert"); DROP TABLE x; --')).rejects.toThrow(
      /not a plain lowercase PostgreSQL identifier/,
    );
  });

  it('fails on a wrong password with an authentication error that names the server and never the password', async () => {
    const wrong = server.url.replace(encodeURIComponent(server.password), 'not-the-password-x1');
    const error = await PostgresRunStore.open(wrong).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(String(error)).toMatch(new RegExp(`127\\.0\\.0\\.1:${server.port}.*authentication failed`));
    expect((error as StoreError).retryable).toBe(false);
    expect(everythingSaid(error)).not.toContain('not-the-password-x1');
  });

  it('fails fast and retryably when nothing listens, naming host:port', async () => {
    const error = await PostgresRunStore.open('postgres://u:secret-pw-9@127.0.0.1:1/db').catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(String(error)).toMatch(/127\.0\.0\.1:1\/db .*connection refused/);
    expect(classifyError(error)).toMatchObject({ retryable: true, code: 'store' });
    expect(everythingSaid(error)).not.toContain('secret-pw-9');
  });
});

describe('opening PostgresRunStore takes a signal', () => {
  it('settles at once with a CancelledError when aborted while the server accepts and never answers', async () => {
    const sockets: Socket[] = [];
    const deaf = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => deaf.listen(0, '127.0.0.1', resolve));
    const { port } = deaf.address() as { port: number };
    const controller = new AbortController();
    const opening = PostgresRunStore.open(`postgres://u:pw@127.0.0.1:${port}/db`, {
      signal: controller.signal,
      connectTimeoutMs: 60_000,
    }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const abortedAt = Date.now();
    controller.abort();
    const error = await opening;
    expect(error).toBeInstanceOf(CancelledError);
    expect(Date.now() - abortedAt).toBeLessThan(1000);
    await expect(PostgresRunStore.open(server.url, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      CancelledError,
    );
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => deaf.close(resolve));
  });
});

// Last: it kills the server.
describe('PostgresRunStore across a server crash', () => {
  it('kill -9 of PostgreSQL fails the call in flight with a retryable error naming the server; after restart the same store works again', async () => {
    const store = await openStore('crash');
    const run = await store.createRun(project());
    expect(await store.appendEvents(run.id, [{ type: 'before', payload: 1 }])).toEqual([1]);
    await store.recordStepDone(run.id, done('sheet:compose', 'h'));

    // A raw session holds the run row, so the next append is certainly in flight (waiting on the lock) at the kill.
    const holder = new pg.Client({ connectionString: server.url });
    holder.on('error', () => {});
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM crash.runs WHERE id = $1 FOR UPDATE', [run.id]);
    const inFlight = store.appendEvents(run.id, [{ type: 'lost', payload: 2 }]).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await server.kill9();

    const error = await inFlight;
    expect(error).toBeInstanceOf(StoreError);
    expect(String(error)).toMatch(
      new RegExp(`run store postgres at 127\\.0\\.0\\.1:${server.port}/postgres .*during appendEvents`),
    );
    expect(classifyError(error)).toMatchObject({ retryable: true, kind: 'temporary' });
    expect(everythingSaid(error)).not.toContain(server.password);
    // While it is down, every call says the same.
    await expect(store.getRun(run.id)).rejects.toMatchObject({ code: 'store', retryable: true });

    await server.restart();
    // Everything committed before the crash is there; the uncommitted append is not (its seq is free again).
    expect((await store.listEvents(run.id)).map((e) => e.type)).toEqual(['before']);
    expect((await store.findCompletedStep('lighthouse', 'sheet:compose', 'h'))?.runId).toBe(run.id);
    expect(await store.appendEvents(run.id, [{ type: 'after', payload: 3 }])).toEqual([2]);
    expect(await store.renewLease(run.id)).toBe(true);
    await holder.end().catch(() => {});
    await store.close();
  });
});
