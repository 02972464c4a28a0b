/**
 * Raw ComfyUI protocol helpers for the conformance suite and the double's own tests: plain fetch and a plain `ws`
 * socket, deliberately NOT our client, so the suite says what a server does rather than what the client makes of it.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export interface Msg {
  type: string;
  data: Record<string, unknown>;
}

export interface RawSocket {
  readonly clientId: string;
  readonly messages: Msg[];
  readonly binary: Buffer[];
  readonly closed: Promise<void>;
  /** Resolves with the first message (already received or future) matching `pred`; rejects after `timeoutMs`. */
  waitFor(pred: (m: Msg) => boolean, timeoutMs?: number): Promise<Msg>;
  /** Messages about one prompt, in arrival order. */
  of(promptId: string): Msg[];
  close(): void;
}

export async function openSocket(url: string, clientId: string = randomUUID()): Promise<RawSocket> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws?clientId=${encodeURIComponent(clientId)}`);
  const messages: Msg[] = [];
  const binary: Buffer[] = [];
  let listeners: (() => void)[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) binary.push(Buffer.from(data));
    else messages.push(JSON.parse(data.toString('utf8')) as Msg);
    for (const l of listeners) l();
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // The first message is the server's status greeting; wait for it so tests start from a known point.
  await new Promise<void>((resolve) =>
    messages.length > 0 ? resolve() : ws.once('message', () => resolve()),
  );
  return {
    clientId,
    messages,
    binary,
    closed,
    of: (promptId) => messages.filter((m) => m.data?.['prompt_id'] === promptId),
    waitFor(pred, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = messages.find(pred);
          if (!hit) return false;
          clearTimeout(timer);
          listeners = listeners.filter((l) => l !== listener);
          resolve(hit);
          return true;
        };
        const listener = () => void check();
        const timer = setTimeout(() => {
          listeners = listeners.filter((l) => l !== listener);
          const seen = messages.map((m) => m.type).join(', ');
          reject(
            new Error(
              `no matching WebSocket message within ${timeoutMs} ms (client ${clientId}; saw: ${seen})`,
            ),
          );
        }, timeoutMs);
        if (!check()) listeners.push(listener);
      });
    },
    close: () => ws.close(),
  };
}

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export async function http(
  url: string,
  path: string,
  init: { method?: string; body?: unknown; raw?: BodyInit } = {},
) {
  const hasBody = init.body !== undefined || init.raw !== undefined;
  const res = await fetch(url + path, {
    method: init.method ?? (hasBody ? 'POST' : 'GET'),
    ...(init.raw !== undefined
      ? { body: init.raw }
      : init.body !== undefined
        ? { body: JSON.stringify(init.body) }
        : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const body = Buffer.from(await res.arrayBuffer());
  const answer: HttpAnswer = {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body,
    text: body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
  return answer;
}

/** The 400 body of POST /prompt. */
export interface PromptRejection {
  error: { type: string; message: string; details: string };
  node_errors: Record<
    string,
    { errors: { type: string; details: string; extra_info: Record<string, unknown> }[]; class_type: string }
  >;
}
export type SystemStats = { system: { comfyui_version: string }; devices: unknown[] };
export type History = Record<string, { status?: { status_str?: string; completed?: boolean } } | undefined>;

export type Workflow = Record<
  string,
  { class_type: string; inputs: Record<string, unknown>; _meta?: { title: string } }
>;

/** A unique file name prefix per test, so runs against a shared server never collide. */
export const uniquePrefix = (label: string): string => `sc-${label}-${randomUUID().slice(0, 8)}`;

/** EmptyImage → ImageBlur → SaveImage: the reference's model-free example. */
export function trivialWorkflow(prefix: string, color = 0xff0000): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color } },
    '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 1, sigma: 1.0 } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

/**
 * A model-free job that keeps the server busy: `blurs` ImageBlur nodes in a chain on a `size`² image, shrunk before
 * saving. Node ids: '1' EmptyImage, '10'… the blurs, '8' the shrink, '9' SaveImage.
 */
export function slowWorkflow(prefix: string, blurs: number, size: number, color: number): Workflow {
  const wf: Workflow = {
    '1': { class_type: 'EmptyImage', inputs: { width: size, height: size, batch_size: 1, color } },
  };
  let previous = '1';
  for (let i = 0; i < blurs; i++) {
    const id = String(10 + i);
    wf[id] = { class_type: 'ImageBlur', inputs: { image: [previous, 0], blur_radius: 2, sigma: 10 } };
    previous = id;
  }
  wf['8'] = {
    class_type: 'ImageScale',
    inputs: {
      image: [previous, 0],
      upscale_method: 'nearest-exact',
      width: 32,
      height: 32,
      crop: 'disabled',
    },
  };
  wf['9'] = { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: prefix } };
  return wf;
}

export async function submit(
  url: string,
  prompt: Workflow,
  clientId: string | undefined,
  extra: Record<string, unknown> = {},
): Promise<{ status: number; promptId: string; body: Record<string, unknown> }> {
  const answer = await http(url, '/prompt', {
    body: { prompt, ...(clientId === undefined ? {} : { client_id: clientId }), ...extra },
  });
  const body = answer.json();
  return { status: answer.status, promptId: String(body['prompt_id'] ?? ''), body };
}

export const isDone = (promptId: string) => (m: Msg) =>
  m.type === 'executing' && m.data['node'] === null && m.data['prompt_id'] === promptId;

export const randomColor = (): number => Math.floor(Math.random() * 0xffffff);
