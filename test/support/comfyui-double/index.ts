/**
 * A ComfyUI test double: a real HTTP + WebSocket server on 127.0.0.1 (node:http + ws) that speaks ComfyUI's API as
 * a real 0.3.64 server does, for the tests and benchmarks of our ComfyUI client.
 *
 * What it emulates: every route bare and under `/api`; POST /prompt with ComfyUI's own validation (the same
 * `node_errors` bodies, see validation.ts); one worker running the queue in `number` order (`front` jumps it); the
 * WebSocket messages in the real order (status, execution_start, execution_cached, progress_state, executing,
 * progress, executed, execution_success, status, executing null), routed to the job's client_id only; the "classic"
 * node cache (identical re-runs answer from cache with the same file names); execution_error and
 * execution_interrupted (interrupts at node boundaries and between sampler steps); queue delete/clear; history,
 * /view, /upload/image (reuse and `name (1).ext` renames), /system_stats, /object_info (the real server's answer,
 * captured once into test/fixtures/comfyui/object_info-0.3.64.json). Image nodes run for real with sharp;
 * text-to-image nodes (loaders, CLIPTextEncode, samplers, VAEDecode…) are simulated with per-step latency, progress
 * and binary PNG preview frames. `version: '0.3.40'` (or any version before 0.3.64) switches to the older protocol:
 * client prompt_id ignored, untargeted interrupt, no progress_state, first messages possibly before the HTTP answer.
 *
 * How it was checked: test/comfyui/protocol-suite.ts runs the same raw-protocol tests against this double
 * (`npm test`) and against a real ComfyUI 0.3.64 (`COMFYUI_URL=… npm run test:comfyui`); the message orders, bodies
 * and status codes written here were read off that real server. The 0.3.40 mode follows ComfyUI's source of that
 * release (no such server was available to run against).
 *
 * Faults (`inject`) imitate what clients meet in the field; several may be active at once; `clearFaults` ends them.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { Executor, type Job } from './executor.js';
import { FaultState, normalizeRoute, type ComfyFault } from './faults.js';
import { FileStore } from './files.js';
import { SocketHub } from './hub.js';
import { buildObjectInfo } from './object-info.js';
import { route, text500 } from './router.js';

export type { ComfyFault } from './faults.js';

export interface ComfyDoubleOptions {
  /** ComfyUI version to emulate. '0.3.64' (default) or an older one such as '0.3.40', which: ignores a client-chosen
   *  prompt_id (assigns its own uuid; its first WS messages for the job may be sent BEFORE the HTTP response),
   *  interrupts whatever runs on POST /interrupt (body ignored), sends no progress_state. */
  version?: string;
  /** @default 0 (ephemeral); restart() keeps the port */
  port?: number;
  /** Per-step latency of simulated sampler nodes (KSampler, KSamplerAdvanced, SamplerCustomAdvanced). @default 20 */
  samplerStepMs?: number;
  /** Model files the double pretends to have, per folder: { checkpoints: ['sd_xl_base_1.0.safetensors'], ... }.
   *  Used for the enum lists in /object_info and validation. @default {} (like the real test server: none) */
  models?: Record<string, string[]>;
  /** Whether to send binary preview frames from sampler steps. @default true */
  previews?: boolean;
}

export interface ComfyDouble {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Several may be active at once. */
  inject(fault: ComfyFault): void;
  clearFaults(): void;
  /** A real restart: close everything, lose queue/history, listen again on the same port. */
  restart(): Promise<void>;
  /** Like the server being killed (port closed until start()). */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
  /** For assertions: every POST /prompt the double accepted, in order (prompt_id, client_id, workflow). */
  readonly submitted: ReadonlyArray<{
    promptId: string;
    clientId: string | undefined;
    prompt: Record<string, unknown>;
  }>;
  /** Uploaded input files by name (bytes). */
  readonly uploads: ReadonlyMap<string, Buffer>;
  queueSnapshot(): { running: string[]; pending: string[] };
}

/** Whether `version` predates 0.3.64's protocol (the double knows two behaviours: 0.3.64's and 0.3.40's). */
function isLegacy(version: string): boolean {
  const a = version.split('.').map(Number),
    b = [0, 3, 64];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) < b[i]!;
  return false;
}

class Double implements ComfyDouble {
  private readonly version: string;
  private readonly legacy: boolean;
  private readonly files = new FileStore();
  private readonly faults = new FaultState();
  private readonly hub = new SocketHub();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 100 * 1024 * 1024 });
  private executor: Executor;
  private server: Server | undefined;
  private readonly connections = new Set<Socket>();
  private port: number;
  private counter = 0;
  private closed = false;
  /** Set by stop(): the next start() is a fresh process (new worker, empty queue and history). */
  private stopped = false;
  readonly submitted: { promptId: string; clientId: string | undefined; prompt: Record<string, unknown> }[] =
    [];

  constructor(private readonly options: ComfyDoubleOptions) {
    this.version = options.version ?? '0.3.64';
    this.legacy = isLegacy(this.version);
    this.port = options.port ?? 0;
    this.executor = this.newExecutor();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get uploads(): ReadonlyMap<string, Buffer> {
    return this.files.inputs();
  }

  queueSnapshot(): { running: string[]; pending: string[] } {
    const q = this.executor.queue();
    return { running: q.running.map((j) => j.promptId), pending: q.pending.map((j) => j.promptId) };
  }

  inject(fault: ComfyFault): void {
    if (fault.kind === 'lose-jobs' && this.executor.queueRemaining() > 0) {
      // Jobs exist now: the "restart" happens now. Otherwise it is armed and hits the next job that starts.
      this.loseEverything();
      return;
    }
    this.faults.add(fault);
    if (fault.kind === 'refuse-connections') void this.unlisten();
  }

  clearFaults(): void {
    const refusing = this.faults.has('refuse-connections');
    this.faults.clear();
    if (refusing && !this.closed && !this.server) void this.listen();
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error('comfyui-double: start() after close()');
    if (this.server) return;
    if (this.stopped) {
      this.executor = this.newExecutor();
      this.counter = 0;
      this.stopped = false;
    }
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.executor.shutdown();
    this.hub.terminateAll();
    this.files.clearTemp();
    await this.unlisten();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.faults.clear();
    await this.stop();
    this.wss.close();
  }

  /** The state a restarted ComfyUI has: empty queue and history, no sockets, a new worker. */
  private loseEverything(): void {
    this.executor.shutdown();
    this.hub.terminateAll();
    this.files.clearTemp();
    this.counter = 0;
    this.executor = this.newExecutor();
  }

  private newExecutor(): Executor {
    return new Executor({
      hub: this.hub,
      files: this.files,
      faults: this.faults,
      info: () => this.info(),
      progressState: !this.legacy,
      samplerStepMs: this.options.samplerStepMs ?? 20,
      previews: this.options.previews ?? true,
      onLoseJobs: () => this.loseEverything(),
    });
  }

  /** The last object_info built, and the input file names it was built for. */
  private infoMemo: { names: string; info: ReturnType<typeof buildObjectInfo> } | undefined;

  /**
   * object_info changes only when an input file is uploaded (the models are fixed): rebuilt then, not per prompt —
   * a deep copy of the captured 0.3.64 schema per validation was the double's second cost after drawing pictures.
   * Callers only read it.
   */
  private info() {
    const names = [...this.files.inputs().keys()].join('\0');
    if (this.infoMemo?.names !== names) {
      this.infoMemo = { names, info: buildObjectInfo(this.options.models ?? {}, this.files.inputs().keys()) };
    }
    return this.infoMemo.info;
  }

  private listen(): Promise<void> {
    const server = createServer((req, res) => {
      const path = normalizeRoute(new URL(req.url ?? '/', 'http://double').pathname);
      if (this.faults.hangs(path)) return; // accepted, never answered (closed by stop/close)
      if (this.faults.takeHttp500(path)) return void req.resume().on('end', () => text500(res));
      void route(req, res, {
        version: this.version,
        legacy: this.legacy,
        executor: () => this.executor,
        files: this.files,
        faults: this.faults,
        info: () => this.info(),
        nextNumber: () => this.counter++,
        onSubmitted: (job: Job) =>
          this.submitted.push({
            promptId: job.promptId,
            clientId: job.extraData['client_id'] as string | undefined,
            prompt: job.prompt,
          }),
      });
    });
    server.on('connection', (socket) => {
      this.connections.add(socket);
      socket.on('close', () => this.connections.delete(socket));
    });
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://double');
      const path = normalizeRoute(url.pathname);
      if (this.faults.hangs(path)) return;
      if (path !== '/ws' || this.faults.takeHttp500(path)) {
        socket.end('HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const sid = this.hub.add(ws, url.searchParams.get('clientId') ?? undefined);
        const status = { status: { exec_info: { queue_remaining: this.executor.queueRemaining() } }, sid };
        ws.send(JSON.stringify({ type: 'status', data: status }));
        // A client reconnecting mid-job is told which node runs (server.py sends it without a prompt_id).
        const node = this.executor.currentNodeFor(sid);
        if (node !== undefined) ws.send(JSON.stringify({ type: 'executing', data: { node } }));
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        const address = server.address();
        if (address && typeof address === 'object') this.port = address.port;
        resolve();
      });
    });
  }

  /** Close the port and cut every open connection (HTTP keep-alive and WebSocket), as a dead process would. */
  private unlisten(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.hub.terminateAll();
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

/** Start a double on 127.0.0.1 (an ephemeral port unless `options.port`). Close it with `close()`. */
export async function startComfyDouble(options: ComfyDoubleOptions = {}): Promise<ComfyDouble> {
  const double = new Double(options);
  await double.start();
  return double;
}
