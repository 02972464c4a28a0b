import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import type { SequenceGenerationService } from '../pipeline/sequence-generation-service.js';
import type { PipelineEvent } from '../pipeline/events.js';
import type { AsyncRunStore } from '../store/async-run-store.js';
import type { RunRecord } from '../store/run-store.js';
import { loadWorkflow, parseRunSettings } from './backend-settings.js';
import { HttpError, toErrorResponse } from './http-errors.js';
import { ProjectRepository } from './project-repository.js';
import { exportZipPath, readResults } from './results.js';
import type { RunManager } from './run-manager.js';
import { guard } from './security.js';
import { serveWeb } from './static-files.js';

export interface StudioAppOptions {
  service: SequenceGenerationService;
  runs: RunManager;
  /** The built web UI (`dist/web`). */
  webRoot: string;
  loopback: boolean;
  token?: string;
  version: string;
  /** Largest request body, bytes. @default 4 MiB (a 2000-shot project fits) */
  maxBodyBytes?: number;
  /** Told about errors answered 500. @default console.error */
  logError?: (error: unknown) => void;
}

const SHA256 = /^[0-9a-f]{64}$/;
/** Events read from the log per query while replaying. */
const PAGE = 500;
/** A comment on an idle stream, so proxies and browsers keep it open. */
const KEEPALIVE_MS = 15_000;
/** How long a settled run's stream waits for its run-finished event to land in a networked store's log. */
const SETTLE_GRACE_MS = 3000;

/** The studio's HTTP API (`/api`) and the web UI, over one service and one run manager. */
export function createStudioApp(options: StudioAppOptions): Hono {
  const { service, runs } = options;
  const { engine } = runs;
  const projects = new ProjectRepository(service.workspace);
  const store = engine.runs;
  const liveHere = (runId: string): boolean => runs.isLive(runId);
  const runIdsOf = async (projectId: string): Promise<string[]> =>
    (await store.listRuns({ projectId, limit: Number.MAX_SAFE_INTEGER })).map((r) => r.id);
  const app = new Hono();

  app.onError((error, c) => {
    const { status, body } = toErrorResponse(error);
    if (status === 500) (options.logError ?? console.error)(error);
    return c.json(body, status);
  });
  app.use('*', guard({ loopback: options.loopback, ...(options.token ? { token: options.token } : {}) }));
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: options.maxBodyBytes ?? 4 * 1024 * 1024,
      onError: () => {
        throw new HttpError(
          413,
          'too-large',
          `request body over ${options.maxBodyBytes ?? 4 * 1024 * 1024} bytes`,
        );
      },
    }),
  );

  app.get('/api/health', (c) =>
    c.json({ ok: true, version: options.version, workspace: service.workspace, engine: engine.kind }),
  );

  app.get('/api/projects', async (c) => c.json({ projects: await projects.list() }));
  app.post('/api/projects', async (c) => {
    const project = await projects.create(await jsonBody(c, true));
    return c.json({ id: project.id }, 201);
  });
  app.get('/api/projects/:id', async (c) => c.json(await projects.get(c.req.param('id'))));
  app.put('/api/projects/:id', async (c) => {
    const project = await projects.replace(c.req.param('id'), await jsonBody(c, true));
    return c.json({ id: project.id });
  });
  app.delete('/api/projects/:id', async (c) => {
    const id = c.req.param('id');
    const live = runs.liveRunOf(id);
    if (live)
      throw new ConflictError(`project "${id}" has a live run: ${live}`, { details: { runId: live } });
    await projects.get(id);
    // The project's runs go with it (a live one in another process refuses the whole delete, 409).
    await engine.deleteRuns(id, await runIdsOf(id), liveHere, c.req.raw.signal);
    await projects.remove(id);
    return c.body(null, 204);
  });
  app.delete('/api/projects/:id/runs', async (c) => {
    const id = c.req.param('id');
    const ids = await runIdsOf(id);
    if (ids.length === 0) await projects.get(id); // an unknown project is a 404, a known one without runs a no-op
    return c.json(await engine.deleteRuns(id, ids, liveHere, c.req.raw.signal));
  });

  app.post('/api/projects/:id/runs', async (c) => {
    const project = await projects.get(c.req.param('id'));
    const settings = parseRunSettings(await jsonBody(c, false));
    const { updatedAt: _updatedAt, ...doc } = project;
    const runId = await runs.start(doc, settings);
    return c.json({ runId }, 202);
  });

  // Live: driven by this process, or (on a queue) by a coordinator anywhere whose lease is fresh.
  const liveness = async (list: readonly RunRecord[]): Promise<(run: RunRecord) => boolean> => {
    const elsewhere = await engine.liveElsewhere(list);
    return (run) => runs.isLive(run.id) || elsewhere.has(run.id);
  };
  app.get('/api/runs', async (c) => {
    const projectId = c.req.query('project');
    const list = await store.listRuns({ ...(projectId ? { projectId } : {}), limit: 50 });
    const live = await liveness(list);
    return c.json({ runs: list.map((r) => runSummary(r, live(r))) });
  });
  app.get('/api/runs/:runId', async (c) => {
    const run = await engine.getRun(c.req.param('runId'));
    const live = await liveness([run]);
    return c.json({ ...runSummary(run, live(run)), ...(await progressOf(run, runs, store)) });
  });
  app.post('/api/runs/:runId/cancel', async (c) => {
    const run = await engine.getRun(c.req.param('runId'));
    if (runs.cancel(run.id)) return c.json({ runId: run.id, status: 'cancelling' }, 202);
    if (run.status !== 'running') {
      throw new ConflictError(`run ${run.id} is not running (it is ${run.status})`, {
        details: { runId: run.id, status: run.status },
      });
    }
    // Another process's run: on a queue, cancelled through the store (its coordinator and workers poll it).
    await engine.cancelElsewhere(run);
    return c.json({ runId: run.id, status: 'cancelling' }, 202);
  });
  app.post('/api/runs/:runId/resume', async (c) => {
    const run = await engine.getRun(c.req.param('runId'));
    if (run.status === 'succeeded') {
      throw new ConflictError(`run ${run.id} already succeeded; start a new run instead`, {
        details: { runId: run.id },
      });
    }
    const settings = parseRunSettings(await jsonBody(c, false));
    const runId = await runs.resume(run.id, settings);
    return c.json({ runId }, 202);
  });
  app.delete('/api/runs/:runId', async (c) => {
    const run = await engine.getRun(c.req.param('runId'));
    return c.json(await engine.deleteRuns(run.projectId, [run.id], liveHere, c.req.raw.signal));
  });
  app.get('/api/runs/:runId/results', async (c) => {
    const run = await engine.getRun(c.req.param('runId'));
    return c.json(readResults(run, await store.listSteps(run.id)));
  });
  app.get('/api/runs/:runId/export.zip', async (c) => {
    const run = await engine.getRun(c.req.param('runId'));
    const zip = run.status === 'succeeded' ? exportZipPath(await store.listSteps(run.id)) : undefined;
    const info = zip ? await stat(zip).catch(() => undefined) : undefined;
    if (!zip || !info)
      throw new NotFoundError(`run ${run.id} has no export (it is ${run.status})`, {
        details: { runId: run.id },
      });
    return new Response(Readable.toWeb(createReadStream(zip)) as ReadableStream, {
      headers: {
        'Content-Type': 'application/zip',
        'Content-Length': String(info.size),
        'Content-Disposition': `attachment; filename="${run.projectId}-${run.id}.zip"`,
        'Cache-Control': 'no-cache',
      },
    });
  });
  app.get('/api/artifacts/:sha256', async (c) => {
    const sha = c.req.param('sha256');
    // Checked before any path is built: a content hash is the only thing this route can name.
    if (!SHA256.test(sha)) {
      throw new ValidationError(
        `invalid artifact id "${sha.slice(0, 80)}": expected 64 lowercase hex digits`,
        [{ path: 'sha256', message: 'expected 64 lowercase hex digits' }],
      );
    }
    const artifacts = engine.artifacts;
    const headers = (type: string, size: number): Record<string, string> => ({
      'Content-Type': type,
      'Content-Length': String(size),
      // Content-addressed: the bytes behind a hash never change.
      'Cache-Control': 'public, max-age=31536000, immutable',
      ETag: `"${sha}"`,
      'X-Content-Type-Options': 'nosniff',
    });
    const missing = (): NotFoundError =>
      new NotFoundError(`no artifact ${sha}`, { details: { sha256: sha } });
    const path = artifacts.localPath?.(sha);
    if (path === undefined) {
      // A store without files (a bucket): the bytes, verified against their hash on the way.
      if (!(await artifacts.has(sha))) throw missing();
      if (c.req.header('if-none-match') === `"${sha}"`) return c.body(null, 304);
      const bytes = await artifacts.get(sha);
      return new Response(new Uint8Array(bytes), { headers: headers(typeOf(bytes), bytes.length) });
    }
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw missing();
    if (c.req.header('if-none-match') === `"${sha}"`) return c.body(null, 304);
    return new Response(Readable.toWeb(createReadStream(path)) as ReadableStream, {
      headers: headers(await sniffType(path), info.size),
    });
  });

  app.get('/api/runs/:runId/events', async (c) => {
    const run = await engine.getRun(c.req.param('runId'));
    const from = c.req.header('last-event-id') ?? c.req.query('lastEventId') ?? '0';
    let after = Number.parseInt(from, 10);
    if (!Number.isInteger(after) || after < 0) after = 0;
    return streamSSE(c, async (stream) => {
      let dirty = true;
      let wake = (): void => {};
      // Live previews are in no log: the latest per shot waits here and goes out without an id (so Last-Event-ID
      // is untouched), before the log events read in the same round, so a preview never follows its shot's frame.
      const previews = new Map(runs.previewsOf(run.id).map((p) => [p.shotId, p]));
      const unsubscribe = runs.subscribe(run.id, (preview) => {
        if (preview) previews.set(preview.shotId, preview);
        else dirty = true;
        wake();
      });
      stream.onAbort(() => wake());
      // Whether the latest attempt's run-finished was sent, and since when the run looks settled without it: on a
      // networked store an append can land after the status that follows it, so the end waits a little for it.
      let finished = after > 0;
      let settledAt: number | undefined;
      let idleSince = Date.now();
      try {
        while (!stream.aborted) {
          dirty = false;
          const sending = [...previews.values()];
          previews.clear();
          for (const preview of sending) {
            const { type: _type, ...data } = preview;
            await stream.writeSSE({ event: 'preview', data: JSON.stringify(data) });
          }
          const events = await store.listEvents(run.id, { afterSeq: after, limit: PAGE });
          for (const event of events) {
            await stream.writeSSE({
              id: String(event.seq),
              event: event.type,
              data: JSON.stringify(event.payload),
            });
            after = event.seq;
            if (event.type === 'run-started') finished = false;
            if (event.type === 'run-finished') finished = true;
          }
          if (events.length > 0) idleSince = Date.now();
          if (events.length === PAGE || dirty || previews.size > 0) continue;
          const live = runs.isLive(run.id);
          const status = await store.getRunStatus(run.id);
          if (!live && status !== 'running') {
            settledAt ??= Date.now();
            // Settled: one last read (events appended between the read above and the status check), then done.
            if ((await store.listEvents(run.id, { afterSeq: after, limit: 1 })).length > 0) continue;
            if (finished || !engine.appendsAsync || Date.now() - settledAt > SETTLE_GRACE_MS) {
              await stream.writeSSE({ event: 'end', data: JSON.stringify({ status }) });
              return;
            }
          } else settledAt = undefined;
          // A run of another process (the CLI, a coordinator elsewhere) wakes nobody here, and a networked store's
          // appends may land after the wake-up: poll the log every second (every 250 ms while it settles).
          const waitMs = settledAt !== undefined ? 250 : live && !engine.appendsAsync ? KEEPALIVE_MS : 1000;
          const woke = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), waitMs);
            wake = () => {
              clearTimeout(timer);
              resolve(true);
            };
          });
          wake = () => {};
          if (
            !woke &&
            !dirty &&
            !stream.aborted &&
            Date.now() - idleSince >= Math.min(waitMs, KEEPALIVE_MS)
          ) {
            await stream.write(': keep-alive\n\n');
            idleSince = Date.now();
          }
        }
      } finally {
        unsubscribe();
      }
    });
  });

  app.post('/api/comfyui/check', async (c) => {
    const settings = parseRunSettings(await jsonBody(c, true));
    if (!settings.servers)
      throw new ValidationError('list the servers to check', [{ path: '$.servers', message: 'missing' }]);
    const { checkComfyUiServer, parseWorkflow } = await import('../backends/comfyui/index.js');
    // The same workflow a run would use: inline, or a file path relative to the workspace.
    const workflows =
      settings.workflow === undefined
        ? []
        : [await loadWorkflow(settings.workflow, service.workspace, parseWorkflow)];
    const signal = c.req.raw.signal;
    const checks = await Promise.all(
      settings.servers.map((url) => checkComfyUiServer(url, { workflows, signal })),
    );
    return c.json({ servers: checks });
  });

  app.all('/api/*', (c) => {
    throw new HttpError(404, 'not-found', `no API route ${c.req.method} ${c.req.path}`);
  });
  app.get('*', (c) => serveWeb(c, options.webRoot));
  return app;
}

/** A JSON request body; `required: false` lets an empty body be `undefined`. Bodies must say they are JSON. */
async function jsonBody(c: Context, required: boolean): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') {
    if (!required) return undefined;
    throw new ValidationError('the request needs a JSON body', [{ path: '$', message: 'missing body' }]);
  }
  // A JSON content type makes a cross-site request need a CORS preflight, which this server never grants.
  if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json')) {
    throw new ValidationError('the request body must be sent as Content-Type: application/json', [
      { path: '$', message: 'not application/json' },
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ValidationError(`the request body is not valid JSON: ${(error as Error).message}`, [
      { path: '$', message: 'invalid JSON' },
    ]);
  }
}

/** A run as lists show it: no project snapshot (it can be megabytes), no pid. */
function runSummary(run: RunRecord, live: boolean): Record<string, unknown> {
  const totalShots = ((run.options as { project?: { shots?: unknown[] } } | undefined)?.project?.shots ?? [])
    .length;
  return {
    id: run.id,
    projectId: run.projectId,
    projectName: run.projectName,
    backend: run.backend,
    status: run.status,
    live,
    totalShots,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
    ...(run.error ? { error: run.error } : {}),
    resumable: run.status === 'interrupted' || run.status === 'cancelled' || run.status === 'failed',
  };
}

type ProgressEvent = Extract<PipelineEvent, { type: 'progress' }>;

/** Stage, progress and ETA: the latest progress event of the run (in memory for live runs, else from its log). */
async function progressOf(
  run: RunRecord,
  runs: RunManager,
  store: AsyncRunStore,
): Promise<Record<string, unknown>> {
  let last = runs.lastProgress(run.id);
  if (!last) {
    let after = 0;
    for (;;) {
      const page = await store.listEvents(run.id, { afterSeq: after, limit: PAGE });
      for (const e of page) if (e.type === 'progress') last = e.payload as ProgressEvent;
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.seq;
    }
  }
  if (!last) return { stage: 'idle', progress: 0, currentShot: 0 };
  const { stage, progress, stageProgress, currentShot, totalShots, elapsedMs, etaMs, estimatedCompletion } =
    last;
  return { stage, progress, stageProgress, currentShot, totalShots, elapsedMs, etaMs, estimatedCompletion };
}

async function sniffType(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    return typeOf(head);
  } finally {
    await handle.close();
  }
}

/** The content type an artifact's first bytes say. */
function typeOf(head: Buffer): string {
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'image/png';
  if (head[0] === 0xff && head[1] === 0xd8) return 'image/jpeg';
  if (head[0] === 0x7b || head[0] === 0x5b) return 'application/json';
  return 'application/octet-stream';
}
