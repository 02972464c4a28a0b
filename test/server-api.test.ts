import { existsSync } from 'node:fs';
import { readdir, utimes } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStudioServer, type StudioServer } from '../src/server/index.js';
import { makeProjectInput } from './helpers/project-factory.js';
import { readSse, type SseMessage } from './helpers/sse.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

let tmp: TempWorkspace;
let server: StudioServer;
const api = (path: string): string => `${server.origin}${path}`;
const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function waitForStatus(
  runId: string,
  statuses: string[],
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = (await (await fetch(api(`/api/runs/${runId}`))).json()) as Record<string, unknown>;
    if (statuses.includes(String(run['status'])) && run['live'] === false) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${String(run['status'])}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Raw request with any Host/Origin header (fetch would not let a test forge Host). */
function rawRequest(
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(server.origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  tmp = await createTempWorkspace('storycore-server-');
  server = await startStudioServer({ port: 0, workspace: tmp.workspace, panelSize: 64 });
});
afterAll(async () => {
  await server.close();
  await tmp.dispose();
});

describe('the studio API on loopback', () => {
  it('answers health, and an invalid project with 400 and every issue at its JSON path', async () => {
    expect(await (await fetch(api('/api/health'))).json()).toMatchObject({ ok: true });
    const bad = makeProjectInput({ id: 'bad' }) as { shots: Array<{ id: string; prompt: string }> };
    bad.shots[0]!.prompt = 'short';
    bad.shots[1]!.id = '../etc';
    const res = await fetch(api('/api/projects'), json(bad));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { issues: Array<{ path: string; message: string }> };
    expect(body.issues).toEqual(
      expect.arrayContaining([
        { path: '$.shots[0].prompt', message: 'prompt must be at least 10 characters after trimming' },
        expect.objectContaining({ path: '$.shots[1].id' }),
      ]),
    );
  });

  it('creates, reads, replaces, lists and deletes projects; a taken id is 409', async () => {
    const doc = makeProjectInput({ id: 'crud', shots: 2 });
    const created = await fetch(api('/api/projects'), json(doc));
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ id: 'crud' });
    expect((await fetch(api('/api/projects'), json(doc))).status).toBe(409);
    const renamed = { ...doc, name: 'Renamed' };
    const put = await fetch(api('/api/projects/crud'), { ...json(renamed), method: 'PUT' });
    expect(put.status).toBe(200);
    expect(await (await fetch(api('/api/projects/crud'))).json()).toMatchObject({ name: 'Renamed' });
    const wrongId = await fetch(api('/api/projects/crud'), {
      ...json({ ...doc, id: 'other' }),
      method: 'PUT',
    });
    expect(wrongId.status).toBe(400);
    const list = (await (await fetch(api('/api/projects'))).json()) as { projects: Array<{ id: string }> };
    expect(list.projects.map((p) => p.id)).toContain('crud');
    expect((await fetch(api('/api/projects/crud'), { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(api('/api/projects/crud'))).status).toBe(404);
    expect((await fetch(api('/api/projects/..%2F..%2Fstorycore'))).status).toBe(400);
  });

  it('runs a project: 202 with the run id, 409 naming the live run, events replayed after Last-Event-ID, results and export', async () => {
    await fetch(api('/api/projects'), json(makeProjectInput({ id: 'seq', shots: 3 })));
    const started = await fetch(api('/api/projects/seq/runs'), { method: 'POST' });
    expect(started.status).toBe(202);
    const { runId } = (await started.json()) as { runId: string };
    const again = await fetch(api('/api/projects/seq/runs'), { method: 'POST' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { message: string } }).error.message).toContain(runId);

    const full = await readSse(api(`/api/runs/${runId}/events`), { until: (m) => m.event === 'end' });
    expect(full.contentType).toContain('text/event-stream');
    const events = full.messages.filter((m) => m.event !== 'end');
    const ids = events.map((m) => Number(m.id));
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ event: 'run-finished' });
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ status: 'succeeded' });
    const last = events
      .filter((m) => m.event === 'progress')
      .map((m) => JSON.parse(m.data) as { progress: number });
    expect(last.at(-1)!.progress).toBe(100);

    // A client that saw up to event 5 gets exactly what came after, as it was.
    const replay = await readSse(api(`/api/runs/${runId}/events`), {
      headers: { 'Last-Event-ID': '5' },
      until: (m) => m.event === 'end',
    });
    const replayed = replay.messages.filter((m: SseMessage) => m.event !== 'end');
    expect(replayed).toEqual(events.slice(5));

    const run = await waitForStatus(runId, ['succeeded']);
    expect(run).toMatchObject({ status: 'succeeded', progress: 100, stage: 'export' });
    const results = (await (await fetch(api(`/api/runs/${runId}/results`))).json()) as {
      success: boolean;
      generatedShots: Array<{ imageUrl: string }>;
      masterCoherenceSheetUrl: string;
      exportPackageUrl: string;
      visualDna: { palette: unknown[] };
    };
    expect(results.success).toBe(true);
    expect(results.generatedShots).toHaveLength(3);
    expect(results.visualDna.palette.length).toBeGreaterThan(0);
    const frame = await fetch(api(results.generatedShots[0]!.imageUrl));
    expect(frame.headers.get('content-type')).toBe('image/png');
    expect(frame.headers.get('cache-control')).toContain('immutable');
    expect(
      Buffer.from(await frame.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    const zip = await fetch(api(results.exportPackageUrl));
    expect(zip.headers.get('content-type')).toBe('application/zip');
    expect(
      Buffer.from(await zip.arrayBuffer())
        .subarray(0, 2)
        .toString(),
    ).toBe('PK');
    const listed = (await (await fetch(api('/api/runs?project=seq'))).json()) as {
      runs: Array<{ id: string }>;
    };
    expect(listed.runs.map((r) => r.id)).toEqual([runId]);
  });

  it('cancels a run midway (it stays resumable) and resumes it to success', async () => {
    await fetch(api('/api/projects'), json(makeProjectInput({ id: 'long', shots: 12 })));
    const { runId } = (await (await fetch(api('/api/projects/long/runs'), { method: 'POST' })).json()) as {
      runId: string;
    };
    await readSse(api(`/api/runs/${runId}/events`), {
      until: (m) => m.event === 'step-completed' && m.data.includes('"qa"'),
    });
    expect((await fetch(api(`/api/runs/${runId}/cancel`), { method: 'POST' })).status).toBe(202);
    const cancelled = await waitForStatus(runId, ['cancelled']);
    expect(Number(cancelled['progress'])).toBeLessThan(100);
    expect((await fetch(api(`/api/runs/${runId}/cancel`), { method: 'POST' })).status).toBe(409);
    const resumed = await fetch(api(`/api/runs/${runId}/resume`), { method: 'POST' });
    expect(resumed.status).toBe(202);
    await waitForStatus(runId, ['succeeded']);
    const results = (await (await fetch(api(`/api/runs/${runId}/results`))).json()) as {
      success: boolean;
      generatedShots: unknown[];
    };
    expect(results.success).toBe(true);
    expect(results.generatedShots).toHaveLength(12);
  });

  it('deletes a run (an export a later run reused stays), then all of a project’s runs with their exports, frames and memo', async () => {
    await fetch(api('/api/projects'), json(makeProjectInput({ id: 'doomed', shots: 2 })));
    const startRun = async (): Promise<string> => {
      const res = await fetch(api('/api/projects/doomed/runs'), { method: 'POST' });
      expect(res.status).toBe(202);
      return ((await res.json()) as { runId: string }).runId;
    };
    const first = await startRun();
    await waitForStatus(first, ['succeeded']);
    const frameUrl = (
      (await (await fetch(api(`/api/runs/${first}/results`))).json()) as {
        generatedShots: Array<{ imageUrl: string }>;
      }
    ).generatedShots[0]!.imageUrl;
    const second = await startRun(); // unchanged: every step, the export too, reused from the first
    await waitForStatus(second, ['succeeded']);

    const one = await fetch(api(`/api/runs/${first}`), { method: 'DELETE' });
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ deleted: [first], removedExports: [] });
    expect((await fetch(api(`/api/runs/${first}`))).status).toBe(404);
    const zip = await fetch(api(`/api/runs/${second}/export.zip`));
    expect(zip.status).toBe(200);
    await zip.arrayBuffer();

    // Frames written long ago (gc never removes what a live step may have just stored).
    const root = join(tmp.workspace, 'artifacts');
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const shard of await readdir(root))
      for (const name of await readdir(join(root, shard)))
        await utimes(join(root, shard, name), hourAgo, hourAgo);
    const all = await fetch(api('/api/projects/doomed/runs'), { method: 'DELETE' });
    expect(all.status).toBe(200);
    const deleted = (await all.json()) as { deleted: string[]; removedExports: string[]; freedFiles: number };
    expect(deleted.deleted).toEqual([second]);
    expect(deleted.removedExports).toHaveLength(2); // the folder and the zip
    expect(deleted.removedExports.some((p) => p.endsWith('.zip'))).toBe(true);
    for (const path of deleted.removedExports) expect(existsSync(path), path).toBe(false);
    expect(deleted.freedFiles).toBeGreaterThan(0);
    expect((await fetch(api(frameUrl))).status).toBe(404);
    expect(await (await fetch(api('/api/runs?project=doomed'))).json()).toEqual({ runs: [] });
    // Nothing memoised is left to reuse: the next run executes every step.
    const third = await startRun();
    const events = await readSse(api(`/api/runs/${third}/events`), { until: (m) => m.event === 'end' });
    expect(events.messages.some((m) => m.event === 'step-reused')).toBe(false);
    expect(events.messages.filter((m) => m.event === 'step-completed').length).toBeGreaterThan(0);
    // The project is still there; an unknown one is a 404.
    expect((await fetch(api('/api/projects/doomed'))).status).toBe(200);
    expect((await fetch(api('/api/projects/nobody/runs'), { method: 'DELETE' })).status).toBe(404);
  });

  it('refuses to delete a live run, its project’s runs or the project (409 naming the run); once cancelled they go', async () => {
    await fetch(api('/api/projects'), json(makeProjectInput({ id: 'busy', shots: 40 })));
    const { runId } = (await (await fetch(api('/api/projects/busy/runs'), { method: 'POST' })).json()) as {
      runId: string;
    };
    for (const path of [`/api/runs/${runId}`, '/api/projects/busy/runs', '/api/projects/busy']) {
      const res = await fetch(api(path), { method: 'DELETE' });
      expect(res.status, path).toBe(409);
      expect(((await res.json()) as { error: { message: string } }).error.message, path).toContain(runId);
    }
    expect((await fetch(api(`/api/runs/${runId}`))).status).toBe(200);
    expect((await fetch(api(`/api/runs/${runId}/cancel`), { method: 'POST' })).status).toBe(202);
    await waitForStatus(runId, ['cancelled']);
    expect((await fetch(api('/api/projects/busy'), { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(api(`/api/runs/${runId}`))).status).toBe(404);
    expect((await fetch(api('/api/projects/busy'))).status).toBe(404);
  });

  it('never lets an artifact or page route escape the store or the web root', async () => {
    for (const path of [
      '/api/artifacts/..%2F..%2Fstorycore.db',
      '/api/artifacts/..%252F..%252Fstorycore.db',
      `/api/artifacts/${'A'.repeat(64)}`,
      '/api/artifacts/%2Fetc%2Fpasswd',
    ]) {
      const res = await rawRequest(path, {});
      expect(res.status, path).toBe(400);
      expect(res.body).toContain('64 lowercase hex digits');
    }
    expect((await rawRequest(`/api/artifacts/${'0'.repeat(64)}`, {})).status).toBe(404);
    for (const path of ['/../../package.json', '/%2e%2e/%2e%2e/package.json', '/..%2f..%2fpackage.json']) {
      const res = await rawRequest(path, {});
      expect(res.body, path).not.toContain('"devDependencies"');
    }
  });

  it('refuses oversized bodies (413), non-JSON bodies, foreign hosts and cross-origin writes', async () => {
    const huge = 'x'.repeat(5 * 1024 * 1024);
    const res = await fetch(api('/api/projects'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: huge,
    });
    expect(res.status).toBe(413);
    const form = await fetch(api('/api/projects'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(makeProjectInput({ id: 'plain' })),
    });
    expect(form.status).toBe(400);
    const rebound = await rawRequest('/api/projects', { Host: 'evil.example:4173' });
    expect(rebound.status).toBe(403);
    const port = new URL(server.origin).port;
    const crossSite = await rawRequest(
      '/api/runs/x/cancel',
      { Host: `127.0.0.1:${port}`, Origin: 'http://evil.example' },
      'POST',
    );
    expect(crossSite.status).toBe(403);
    const unknown = await fetch(api('/api/nope'));
    expect(unknown.status).toBe(404);
  });
});

describe('the studio API off loopback', () => {
  it('requires the token on every API call and the event stream; ?token= sets a cookie for <img> and EventSource', async () => {
    const open = await startStudioServer({
      host: '0.0.0.0',
      port: 0,
      workspace: tmp.workspace,
      token: 's3cret-token',
    });
    try {
      const port = new URL(open.origin).port;
      const at = (p: string): string => `http://127.0.0.1:${port}${p}`;
      expect(open.url).toContain('?token=s3cret-token');
      expect((await fetch(at('/api/health'))).status).toBe(401);
      expect((await fetch(at('/api/runs/any/events'))).status).toBe(401);
      expect((await fetch(at('/api/health'), { headers: { authorization: 'Bearer wrong' } })).status).toBe(
        401,
      );
      expect(
        (await fetch(at('/api/health'), { headers: { authorization: 'Bearer s3cret-token' } })).status,
      ).toBe(200);
      const page = await fetch(at('/?token=s3cret-token'));
      const cookie = page.headers.get('set-cookie') ?? '';
      expect(cookie).toContain('HttpOnly');
      const withCookie = await fetch(at('/api/projects'), { headers: { cookie: cookie.split(';')[0]! } });
      expect(withCookie.status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('generates a token when none is given', async () => {
    const saved = process.env['STORYCORE_TOKEN'];
    delete process.env['STORYCORE_TOKEN'];
    const open = await startStudioServer({ host: '0.0.0.0', port: 0, workspace: tmp.workspace });
    try {
      expect(open.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    } finally {
      await open.close();
      if (saved !== undefined) process.env['STORYCORE_TOKEN'] = saved;
    }
  });
});
