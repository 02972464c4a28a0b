/**
 * The double's HTTP routes, each answering as ComfyUI 0.3.64's server.py does (status codes, empty bodies,
 * `text/plain` 500s from aiohttp); every route is served bare and under `/api`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { posix } from 'node:path';
import sharp from 'sharp';
import { Executor, type Job } from './executor.js';
import { normalizeRoute, type FaultState } from './faults.js';
import { FOLDER_TYPES, type FileStore, type FolderType } from './files.js';
import type { ObjectInfo } from './object-info.js';
import { validatePrompt, type Workflow } from './validation.js';

export interface RouterDeps {
  version: string;
  /** Behave as 0.3.40 did: client prompt_id ignored, untargeted interrupt, early WebSocket messages. */
  legacy: boolean;
  executor: () => Executor;
  files: FileStore;
  faults: FaultState;
  info: () => ObjectInfo;
  nextNumber: () => number;
  onSubmitted: (job: Job) => void;
}

const MAX_BODY = 100 * 1024 * 1024;
const AIOHTTP_500 = '500 Internal Server Error\n\nServer got itself in trouble';
class BadBody extends Error {}
class TooLarge extends Error {}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
};
const empty = (res: ServerResponse, status: number) => {
  res.writeHead(status, { 'content-type': 'application/octet-stream' }).end();
};
export const text500 = (res: ServerResponse) => {
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(AIOHTTP_500);
};

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new TooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
async function readJson(req: IncomingMessage): Promise<unknown> {
  try {
    return JSON.parse((await readBody(req)).toString('utf8'));
  } catch (e) {
    if (e instanceof TooLarge) throw e;
    throw new BadBody();
  }
}
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export async function route(req: IncomingMessage, res: ServerResponse, deps: RouterDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://double');
  const path = normalizeRoute(url.pathname);
  try {
    await dispatch(req, res, url, path, deps);
  } catch (e) {
    if (res.headersSent) return void res.destroy();
    if (e instanceof TooLarge) {
      res
        .writeHead(413, { 'content-type': 'text/plain; charset=utf-8' })
        .end('413: Request Entity Too Large');
      return;
    }
    // aiohttp answers any exception in a handler (a non-JSON body included) with this plain-text 500.
    text500(res);
  }
}

async function dispatch(req: IncomingMessage, res: ServerResponse, url: URL, path: string, deps: RouterDeps) {
  const { executor, files } = deps;
  const method = req.method ?? 'GET';
  const key = `${method} ${path}`;
  if (key === 'POST /prompt') return postPrompt(req, res, deps);
  if (key === 'GET /prompt')
    return json(res, 200, { exec_info: { queue_remaining: executor().queueRemaining() } });
  if (key === 'GET /queue') {
    const q = executor().queue();
    return json(res, 200, {
      queue_running: q.running.map(Executor.item),
      queue_pending: q.pending.map(Executor.item),
    });
  }
  if (key === 'POST /queue') {
    const body = await readJson(req);
    if (!isObject(body)) throw new BadBody();
    if (body['clear']) executor().clearPending();
    if (Array.isArray(body['delete'])) executor().delete(body['delete'].map(String));
    return empty(res, 200);
  }
  if (key === 'POST /interrupt') {
    let body: unknown = {};
    try {
      body = await readJson(req);
    } catch (e) {
      if (e instanceof TooLarge) throw e;
    }
    // 0.3.40 had no targeted interrupt: whatever body comes, whatever runs is stopped.
    const id = deps.legacy || !isObject(body) ? undefined : body['prompt_id'];
    executor().interrupt(typeof id === 'string' && id ? id : undefined);
    return empty(res, 200);
  }
  if (key === 'POST /free') return empty(res, 200);
  if (key === 'GET /history') {
    const entries = [...executor().history.entries()];
    const max = url.searchParams.get('max_items');
    const picked = max === null ? entries : entries.slice(Math.max(0, entries.length - Number(max)));
    return json(res, 200, Object.fromEntries(picked));
  }
  if (method === 'GET' && path.startsWith('/history/')) {
    const id = decodeURIComponent(path.slice('/history/'.length));
    const entry = executor().history.get(id);
    return json(res, 200, entry ? { [id]: entry } : {});
  }
  if (key === 'POST /history') {
    const body = await readJson(req);
    if (!isObject(body)) throw new BadBody();
    if (body['clear']) executor().history.clear();
    if (Array.isArray(body['delete'])) for (const id of body['delete']) executor().history.delete(String(id));
    return empty(res, 200);
  }
  if (key === 'GET /system_stats') return json(res, 200, systemStats(deps.version));
  if (key === 'GET /object_info') return json(res, 200, deps.info());
  if (method === 'GET' && path.startsWith('/object_info/')) {
    const cls = decodeURIComponent(path.slice('/object_info/'.length));
    const node = deps.info()[cls];
    return json(res, 200, node ? { [cls]: node } : {});
  }
  if (key === 'GET /embeddings' || key === 'GET /extensions') return json(res, 200, []);
  if (key === 'GET /view') return view(res, url, deps);
  if (key === 'POST /upload/image') return upload(req, res, files);
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404: Not Found');
}

async function postPrompt(req: IncomingMessage, res: ServerResponse, deps: RouterDeps) {
  const body = await readJson(req);
  if (!isObject(body)) throw new BadBody();
  // The counter moves for every POST, valid or not, before validation (server.py's post_prompt).
  let number = 'number' in body ? Number(body['number']) : deps.nextNumber();
  if (body['front']) number = -number;
  if (!('prompt' in body)) {
    const error = {
      type: 'no_prompt',
      message: 'No prompt provided',
      details: 'No prompt provided',
      extra_info: {},
    };
    return json(res, 400, { error, node_errors: {} });
  }
  const prompt = body['prompt'];
  if (!isObject(prompt)) throw new BadBody();
  const chosen = body['prompt_id'];
  // 0.3.40 ignores a client-chosen id; 0.3.64 takes it as is (a duplicate is simply queued again).
  const promptId = !deps.legacy && chosen !== undefined ? String(chosen) : randomUUID();
  const result = validatePrompt(prompt as Workflow, {
    info: deps.info(),
    inputFileExists: (name) => deps.files.inputs().has(name.replace(/ \[(input|output|temp)\]$/, '')),
  });
  if (!result.ok) return json(res, 400, { error: result.error, node_errors: result.nodeErrors });
  const extraData = isObject(body['extra_data']) ? { ...body['extra_data'] } : {};
  if ('client_id' in body) extraData['client_id'] = body['client_id'];
  const job: Job = { number, promptId, prompt: prompt as Workflow, extraData, outputs: result.outputs };
  deps.onSubmitted(job);
  deps.executor().enqueue(job);
  if (deps.legacy) {
    // Older servers could push the job's first messages before this answer: let an idle worker start first.
    for (let i = 0; i < 10 && !deps.executor().started(promptId); i++)
      await new Promise((r) => setTimeout(r, 5));
  }
  json(res, 200, { prompt_id: promptId, number, node_errors: result.nodeErrors });
}

async function view(res: ServerResponse, url: URL, deps: RouterDeps) {
  const q = url.searchParams;
  const annotated = /^(.*) \[(input|output|temp)\]$/.exec(q.get('filename') ?? '');
  const filename = annotated ? annotated[1]! : (q.get('filename') ?? '');
  if (!q.has('filename')) return empty(res, 404);
  if (!filename || filename.startsWith('/') || filename.includes('..')) return empty(res, 400);
  const type = (annotated?.[2] ?? q.get('type') ?? 'output') as FolderType;
  if (!FOLDER_TYPES.includes(type)) return empty(res, 400);
  const subfolder = q.get('subfolder') ?? '';
  const normalized = subfolder ? posix.normalize(subfolder).replace(/\/$/, '') : '';
  if (normalized.startsWith('..') || normalized.startsWith('/')) return empty(res, 403);
  const name = posix.basename(filename);
  const delay = deps.faults.viewDelayMs();
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  let bytes = deps.files.get(type, normalized === '.' ? '' : normalized, name);
  if (!bytes) return empty(res, 404);
  let contentType = name.endsWith('.png') ? 'image/png' : 'application/octet-stream';
  const preview = q.get('preview');
  if (preview) {
    const [format = 'webp', quality = '90'] = preview.split(';');
    const image = sharp(bytes);
    bytes =
      format === 'jpeg'
        ? await image.jpeg({ quality: Number(quality) }).toBuffer()
        : await image.webp({ quality: Number(quality) }).toBuffer();
    contentType = `image/${format === 'jpeg' ? 'jpeg' : 'webp'}`;
  }
  // A damaged file: the PNG signature and header survive, the image data is cut short.
  if (deps.faults.has('corrupt-output'))
    bytes = bytes.subarray(0, Math.max(16, Math.floor(bytes.length / 2)));
  res.writeHead(200, { 'content-type': contentType, 'content-disposition': `filename="${name}"` }).end(bytes);
}

async function upload(req: IncomingMessage, res: ServerResponse, files: FileStore) {
  const body = await readBody(req);
  let form: FormData;
  try {
    const request = new Request('http://double/upload', {
      method: 'POST',
      headers: { 'content-type': req.headers['content-type'] ?? '' },
      body: new Uint8Array(body),
    });
    form = await request.formData();
  } catch {
    return empty(res, 400);
  }
  const image = form.get('image');
  if (image === null) return empty(res, 400);
  if (typeof image === 'string') throw new BadBody();
  const filename = (image as File).name;
  if (!filename) return empty(res, 400);
  const requested = form.get('type');
  const type = requested === 'temp' || requested === 'output' ? requested : 'input';
  const subfolderRaw = String(form.get('subfolder') ?? '');
  const subfolder = subfolderRaw ? posix.normalize(subfolderRaw).replace(/\/$/, '') : '';
  const full = posix.normalize(posix.join(subfolder, filename));
  if (full.startsWith('..') || full.startsWith('/')) return empty(res, 400);
  const bytes = Buffer.from(await image.arrayBuffer());
  const overwrite = form.get('overwrite');
  const sub = subfolder === '.' ? '' : subfolder;
  const name =
    type === 'input'
      ? files.uploadName(sub, filename, bytes, overwrite === 'true' || overwrite === '1')
      : filename;
  files.put(type, sub, name, bytes);
  json(res, 200, { name, subfolder: subfolderRaw, type });
}

function systemStats(version: string) {
  const vram = 24 * 1024 ** 3;
  return {
    system: {
      os: 'posix',
      ram_total: 32 * 1024 ** 3,
      ram_free: 24 * 1024 ** 3,
      comfyui_version: version,
      python_version: '3.11.2 (comfyui-double)',
      pytorch_version: '2.4.0+double',
      embedded_python: false,
      argv: ['main.py', '--listen', '127.0.0.1'],
    },
    devices: [
      {
        name: 'cuda:0 StoryCore Double GPU : cudaMallocAsync',
        type: 'cuda',
        index: 0,
        vram_total: vram,
        vram_free: vram - 2 * 1024 ** 3,
        torch_vram_total: vram,
        torch_vram_free: vram - 2 * 1024 ** 3,
      },
    ],
  };
}
