import { randomUUID } from 'node:crypto';
import { cancellationFrom } from '../../core/abort.js';
import { describeComfyUiRejection } from '../../core/error-classify.js';
import {
  BackendFailedError,
  BackendRejectedError,
  BackendUnreachableError,
  ErrorCode,
  TimeoutError,
  errorMessage,
  isCancellation,
  isStoryCoreError,
} from '../../core/errors.js';
import type { GenerationProgress } from '../types.js';
import { ComfyHttp, type ComfyHttpOptions } from './http.js';
import { promptIdOf, type BinaryMessage, type ComfyMessage, type PreviewImage } from './messages.js';
import type { ObjectInfo } from './object-info.js';
import { PromptJob, type HistoryEntry, type NodeOutputs, type OutputFile } from './prompt-job.js';
import { ReconnectingSocket } from './socket.js';
import { featuresOf, type ServerFeatures } from './version.js';
import type { Workflow } from './workflow.js';

/**
 * A client of one ComfyUI server: one WebSocket (reconnecting) shared by all jobs, messages routed by prompt id only,
 * completion on `executing {node: null}` confirmed by `/history`, and a per-job watchdog that polls `/queue` and
 * `/history` so a lost socket, a lost job (server restart) or a dead server are noticed within seconds.
 */

export interface ComfyUiClientOptions extends ComfyHttpOptions {
  /** Our client id (routes the job's events to our socket). @default a random UUID */
  clientId?: string;
  /** Poll interval while the socket is down, ms. @default 1000 */
  pollIntervalMs?: number;
  /** Watchdog poll interval while the socket is up (catches missed messages), ms. @default 5000 */
  watchdogIntervalMs?: number;
  /** How long the server may be unreachable while a job waits before that job fails, ms. @default 4000 */
  serverGoneTimeoutMs?: number;
  /**
   * Longest a job may execute, from its start (queue wait excluded), ms; 0 = no limit. A job the server reports as
   * running is otherwise never declared dead. @default 1800000 (30 min)
   */
  jobTimeoutMs?: number;
  /** Times a job the server lost (restart) is submitted again before it fails. @default 1 */
  resubmitLimit?: number;
}

export interface RunPromptOptions {
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
  onPreview?: (preview: PreviewImage) => void;
  /**
   * Called with the prompt id the server queued the job under (again after a resubmission): a pool needs it to delete
   * the job from a server that comes back after the job was moved elsewhere.
   */
  onSubmitted?: (promptId: string) => void;
  /**
   * An idempotency key: a lowercase hyphenated UUID derived from what the job computes (see `promptIdFor`). A job
   * this server already has under it — queued, running, or finished successfully — is attached to instead of
   * queued again, which is how a worker taking over another's stalled step finds that worker's job (and how a
   * retry after a timeout does not queue the same work twice). Without it, each run queues a new job.
   */
  promptId?: string;
}

/** Where a job stands on one server, read from `/queue` then `/history` (in that order: never falsely lost). */
export type JobLocation =
  { state: 'running' | 'pending' } | { state: 'finished'; entry: HistoryEntry } | undefined;

export interface PromptResult {
  promptId: string;
  /** Set when the job was an earlier submission of the same work (`RunPromptOptions.promptId`). */
  attached?: 'queued' | 'finished';
  outputs: NodeOutputs;
  /** Nodes the server served from its cache. */
  cachedNodes: string[];
  resubmissions: number;
}

export interface SystemStats {
  system?: { comfyui_version?: string; os?: string; python_version?: string; pytorch_version?: string };
  devices?: Array<{ name?: string; type?: string; vram_total?: number; vram_free?: number }>;
}

interface QueueItem extends Array<unknown> {
  0: number;
  1: string;
}
interface QueueState {
  queue_running?: QueueItem[];
  queue_pending?: QueueItem[];
}

/** Messages for prompt ids we have not learned yet (servers that assign their own id answer after sending some). */
const BUFFER_TTL_MS = 60_000;
const BUFFER_MAX_IDS = 256;

export class ComfyUiClient {
  readonly http: ComfyHttp;
  readonly clientId: string;
  private readonly socket: ReconnectingSocket;
  private readonly jobs = new Map<string, PromptJob>();
  private readonly unclaimed = new Map<string, { at: number; messages: ComfyMessage[] }>();
  private readonly cancels = new Set<Promise<void>>();
  private executingId: string | undefined;
  private features: Promise<ServerFeatures> | undefined;
  private objectInfoCache: Promise<ObjectInfo> | undefined;
  private readonly opts: Required<
    Pick<
      ComfyUiClientOptions,
      'pollIntervalMs' | 'watchdogIntervalMs' | 'serverGoneTimeoutMs' | 'jobTimeoutMs' | 'resubmitLimit'
    >
  >;
  /** Notes on what a cancel could not do (an old server without targeted interrupt). */
  readonly notes: string[] = [];
  /**
   * The server's whole queue (running + pending, everyone's jobs) as its last socket `status` broadcast said, with
   * when; undefined before the first one. A pool routes by it between its own `/queue` polls.
   */
  queueRemaining: { count: number; at: number } | undefined;

  constructor(url: string, options: ComfyUiClientOptions = {}) {
    this.http = new ComfyHttp(url, options);
    this.clientId = options.clientId ?? randomUUID();
    this.opts = {
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      watchdogIntervalMs: options.watchdogIntervalMs ?? 5000,
      serverGoneTimeoutMs: options.serverGoneTimeoutMs ?? 4000,
      jobTimeoutMs: options.jobTimeoutMs ?? 1_800_000,
      resubmitLimit: options.resubmitLimit ?? 1,
    };
    this.socket = new ReconnectingSocket(
      this.http.socketUrl(this.clientId),
      {
        onMessage: (m) => this.route(m),
        onBinary: (m) => this.routeBinary(m),
        // After a reconnect, messages may have been missed: every waiting job checks the server at once.
        onOpen: () => this.wakeAll(),
        onClose: () => this.wakeAll(),
      },
      { headers: this.http.headers },
    );
  }

  get url(): string {
    return this.http.baseUrl;
  }

  /** Jobs this client is waiting for right now. */
  get inFlight(): number {
    return new Set(this.jobs.values()).size;
  }

  async systemStats(signal?: AbortSignal): Promise<SystemStats> {
    return this.http.json<SystemStats>('/system_stats', { signal });
  }

  /** The server's version and what follows from it; read once. */
  serverFeatures(signal?: AbortSignal): Promise<ServerFeatures> {
    this.features ??= this.systemStats(signal).then(
      (s) => featuresOf(s.system?.comfyui_version),
      (error: unknown) => {
        this.features = undefined;
        throw error;
      },
    );
    return this.features;
  }

  objectInfo(signal?: AbortSignal): Promise<ObjectInfo> {
    this.objectInfoCache ??= this.http
      .json<ObjectInfo>('/object_info', { signal, timeoutMs: 60_000 })
      .catch((error: unknown) => {
        this.objectInfoCache = undefined;
        throw error;
      });
    return this.objectInfoCache;
  }

  async queue(signal?: AbortSignal): Promise<{ running: string[]; pending: string[] }> {
    const q = await this.http.json<QueueState>('/queue', { signal });
    const ids = (items: QueueItem[] | undefined): string[] =>
      [...(items ?? [])].sort((a, b) => Number(a[0]) - Number(b[0])).map((i) => String(i[1]));
    return { running: ids(q.queue_running), pending: ids(q.queue_pending) };
  }

  async history(promptId: string, signal?: AbortSignal): Promise<HistoryEntry | undefined> {
    const h = await this.http.json<Record<string, HistoryEntry>>(`/history/${encodeURIComponent(promptId)}`, {
      signal,
    });
    return h[promptId];
  }

  /** Uploads an input image (overwriting a file of the same name) and returns the name to use in `LoadImage`. */
  async uploadImage(bytes: Buffer, name: string, signal?: AbortSignal): Promise<string> {
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), name);
    form.append('overwrite', 'true');
    form.append('type', 'input');
    const answer = await this.http.json<{ name?: string; subfolder?: string }>('/upload/image', {
      body: form,
      signal,
      timeoutMs: this.http.transferTimeoutMs,
    });
    if (typeof answer.name !== 'string') {
      throw new BackendFailedError(`ComfyUI at ${this.url} did not name the uploaded image`, {
        details: { server: this.url },
      });
    }
    return answer.subfolder ? `${answer.subfolder}/${answer.name}` : answer.name;
  }

  async download(file: OutputFile, signal?: AbortSignal): Promise<Buffer> {
    const q = new URLSearchParams({
      filename: file.filename,
      subfolder: file.subfolder ?? '',
      type: file.type ?? 'output',
    });
    return this.http.bytes(`/view?${q.toString()}`, {
      signal,
      timeoutMs: this.http.transferTimeoutMs,
    });
  }

  /**
   * Queues a workflow and waits for it: resolves with the outputs of every output node, rejects with a typed error
   * (rejected workflow, execution error naming the node, server gone, lost twice, timeout) or CancelledError. A cancel
   * removes the job from the queue and interrupts it if it is running — only it, never another job on the server.
   */
  async run(workflow: Workflow, options: RunPromptOptions = {}): Promise<PromptResult> {
    const { signal } = options;
    if (signal?.aborted) throw cancellationFrom(signal);
    const job = new PromptJob(workflow, options.onProgress, options.onPreview);
    job.idempotentId = options.promptId;
    const onSubmitted = options.onSubmitted;
    this.socket.acquire();
    let settled = false;
    const watchdog = new AbortController();
    try {
      // Open the socket first so no event of the job is missed; polling covers a socket that will not open.
      if (!this.socket.isOpen) await this.socket.waitOpen(2000);
      if (signal?.aborted) throw cancellationFrom(signal);
      const outcome = new Promise<PromptResult>((resolve, reject) => {
        const finish = (error: unknown, result?: PromptResult): void => {
          if (settled) return;
          settled = true;
          job.state = 'settled';
          signal?.removeEventListener('abort', onAbort);
          clearTimeout(jobTimer);
          watchdog.abort();
          job.wake();
          if (error === undefined) resolve(result!);
          else reject(error);
        };
        let jobTimer: NodeJS.Timeout | undefined;
        const onAbort = (): void => {
          const id = job.promptId;
          finish(cancellationFrom(signal!));
          if (id) this.track(this.cancelOnServer(id, job));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const armTimeout = (): void => {
          if (jobTimer || this.opts.jobTimeoutMs <= 0 || job.startedAt === undefined) return;
          jobTimer = setTimeout(() => {
            const id = job.promptId;
            finish(
              new TimeoutError(`job on ComfyUI at ${this.url} ran longer than ${this.opts.jobTimeoutMs} ms`, {
                // `jobTimeoutMs` marks a hung job (see isJobTimeout): the server, not the request, is at fault.
                details: { server: this.url, promptId: id, jobTimeoutMs: this.opts.jobTimeoutMs },
              }),
            );
            if (id) this.track(this.cancelOnServer(id, job));
          }, this.opts.jobTimeoutMs);
          jobTimer.unref();
        };
        job.onSettleCheck = armTimeout;
        job.complete = (outputs) =>
          finish(undefined, {
            promptId: job.promptId!,
            outputs,
            cachedNodes: [...job.cached],
            resubmissions: job.resubmissions,
            ...(job.attached ? { attached: job.attached } : {}),
          });
        job.fail = (error) => finish(error);
        this.submit(job, signal, onSubmitted)
          .then(() => this.watch(job, watchdog.signal, onSubmitted))
          .catch((error: unknown) => finish(error));
      });
      return await outcome;
    } finally {
      for (const [id, j] of this.jobs) if (j === job) this.jobs.delete(id);
      this.socket.release();
    }
  }

  /** Waits for cancels still being sent, then closes the socket. */
  async close(): Promise<void> {
    const pending = [...this.cancels];
    if (pending.length > 0)
      await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, 3000).unref())]);
    this.socket.close();
  }

  /** Removes the job from the queue and interrupts it if it is running; best effort, its failures only noted. */
  async cancelOnServer(promptId: string, job?: PromptJob): Promise<void> {
    const signal = AbortSignal.timeout(5000);
    try {
      await this.http.send('/queue', { json: { delete: [promptId] }, signal });
      const features = await this.serverFeatures(signal);
      if (features.targetedInterrupt) {
        await this.http.send('/interrupt', { json: { prompt_id: promptId }, signal });
        return;
      }
      // An old server interrupts whatever runs: only interrupt when the running job is ours.
      const { running } = await this.queue(signal);
      if (running[0] === promptId)
        await this.http.send('/interrupt', { json: { prompt_id: promptId }, signal });
      else if (job?.state === 'running')
        this.notes.push(
          `job ${promptId} not interrupted: ComfyUI ${features.version} at ${this.url} cannot interrupt one job and it is not the one running`,
        );
    } catch (error) {
      this.notes.push(`cancel of job ${promptId} on ${this.url} incomplete: ${errorMessage(error)}`);
    }
  }

  private track(p: Promise<void>): void {
    this.cancels.add(p);
    void p.finally(() => this.cancels.delete(p));
  }

  /** Where the job `promptId` stands on this server, or undefined when the server does not know it. */
  async locate(promptId: string, signal?: AbortSignal): Promise<JobLocation> {
    const { running, pending } = await this.queue(signal);
    if (running.includes(promptId)) return { state: 'running' };
    if (pending.includes(promptId)) return { state: 'pending' };
    const entry = await this.history(promptId, signal);
    return entry ? { state: 'finished', entry } : undefined;
  }

  /**
   * Attaches the job to an earlier submission of the same work under its idempotent id, when the server has one
   * that is queued, running or finished successfully. A failed or interrupted one is not adopted: the work is
   * queued again under a fresh id (a server keeps an id's history, and newer builds refuse a duplicate id).
   */
  private async attach(
    job: PromptJob,
    id: string,
    signal: AbortSignal | undefined,
    onSubmitted?: (promptId: string) => void,
  ): Promise<boolean> {
    const where = await this.locate(id, signal);
    if (where === undefined) return false;
    if (where.state === 'finished' && !succeeded(where.entry)) {
      job.idempotentId = undefined;
      return false;
    }
    this.jobs.set(id, job);
    job.promptId = id;
    job.attached = where.state === 'finished' ? 'finished' : 'queued';
    if (job.state === 'submitting') job.state = 'queued';
    onSubmitted?.(id);
    const early = this.unclaimed.get(id);
    this.unclaimed.delete(id);
    for (const m of early?.messages ?? []) this.route(m);
    // Its events go to the socket of the client that queued it (gone, if that worker died): the watchdog follows
    // it, at the fast poll interval (see watch).
    if (where.state === 'finished') this.settleFromHistory(job, where.entry);
    return true;
  }

  private async submit(
    job: PromptJob,
    signal: AbortSignal | undefined,
    onSubmitted?: (promptId: string) => void,
  ): Promise<void> {
    const wanted = job.resubmissions === 0 ? job.idempotentId : undefined;
    if (wanted !== undefined && (await this.attach(job, wanted, signal, onSubmitted))) return;
    // attach() drops the idempotent id when the server holds a failed job under it.
    const localId = (job.resubmissions === 0 ? job.idempotentId : undefined) ?? randomUUID();
    this.jobs.set(localId, job);
    job.promptId = localId;
    let answer: { prompt_id?: string; node_errors?: Record<string, unknown> };
    try {
      answer = await this.http.json('/prompt', {
        json: { prompt: job.workflow, client_id: this.clientId, prompt_id: localId },
        signal,
      });
    } catch (error) {
      this.jobs.delete(localId);
      // Another process queued the same work under the same id between our look and our POST (newer builds
      // answer a duplicate id with 409): attach to it.
      if (wanted !== undefined && httpStatusOf(error) === 409) {
        if (await this.attach(job, wanted, signal, onSubmitted)) return;
      }
      throw error;
    }
    const serverId = typeof answer.prompt_id === 'string' ? answer.prompt_id : localId;
    if (serverId !== localId) {
      // A server that ignores client-chosen ids: route by the one it returned, replaying what came before the answer.
      this.jobs.delete(localId);
      this.jobs.set(serverId, job);
      job.promptId = serverId;
      const early = this.unclaimed.get(serverId);
      this.unclaimed.delete(serverId);
      for (const m of early?.messages ?? []) this.route(m);
    }
    if (job.state === 'submitting') job.state = 'queued';
    onSubmitted?.(serverId);
    const nodeErrors = answer.node_errors;
    if (nodeErrors && typeof nodeErrors === 'object' && Object.keys(nodeErrors).length > 0) {
      // Queued although some output failed validation: the frame may never come. Take the job back and say why.
      this.track(this.cancelOnServer(serverId, job));
      throw new BackendRejectedError(describeComfyUiRejection(answer), {
        status: 200,
        details: { server: this.url, body: answer },
      });
    }
  }

  /** Polls while the job waits: fast while the socket is down, as a slow watchdog while it is up. */
  private async watch(
    job: PromptJob,
    stop: AbortSignal,
    onSubmitted?: (promptId: string) => void,
  ): Promise<void> {
    let unreachableSince: number | undefined;
    while (!stop.aborted) {
      // An attached job's events go to the socket of the client that queued it: poll it as if ours were down.
      const fast = !this.socket.isOpen || job.attached !== undefined;
      await job.waitForPoll(fast ? this.opts.pollIntervalMs : this.opts.watchdogIntervalMs);
      if (stop.aborted) return;
      const id = job.promptId!;
      try {
        const { running, pending } = await this.queue(stop);
        unreachableSince = undefined;
        if (running.includes(id)) {
          job.markRunning(Date.now());
          job.onSettleCheck();
          continue;
        }
        const position = pending.indexOf(id);
        if (position >= 0) {
          job.reportQueued(position + running.length);
          continue;
        }
        // Neither running nor pending: finished (history has it) or lost. Queue first, then history: a job that
        // finishes between the two reads is in history, never falsely lost.
        const entry = await this.history(id, stop);
        if (stop.aborted) return;
        if (entry) {
          this.settleFromHistory(job, entry);
          return;
        }
        if (job.resubmissions >= this.opts.resubmitLimit) {
          job.fail(
            new BackendFailedError(
              `ComfyUI at ${this.url} lost the job ${id} (not queued, running or in its history: restarted?) after ${job.resubmissions} resubmission(s)`,
              { details: { server: this.url, promptId: id } },
            ),
          );
          return;
        }
        this.jobs.delete(id);
        job.resubmissions++;
        job.resetForResubmit();
        await this.submit(job, stop, onSubmitted);
      } catch (error) {
        if (stop.aborted || isCancellation(error)) return;
        const code = isStoryCoreError(error) ? error.code : undefined;
        if (code === ErrorCode.BACKEND_REJECTED) {
          job.fail(error);
          return;
        }
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince >= this.opts.serverGoneTimeoutMs) {
          job.fail(
            new BackendUnreachableError(
              `ComfyUI at ${this.url} stopped answering while a job waited (${errorMessage(error)})`,
              { cause: error, details: { server: this.url, promptId: id } },
            ),
          );
          return;
        }
      }
    }
  }

  private route(message: ComfyMessage): void {
    if (message.type === 'status') this.noteStatus(message);
    const id = promptIdOf(message);
    if (id === undefined) return; // status broadcasts: nothing to route
    if (message.type === 'executing' || message.type === 'execution_start') {
      this.executingId = message.data['node'] === null && message.type === 'executing' ? undefined : id;
    }
    const job = this.jobs.get(id);
    if (!job) {
      this.buffer(id, message);
      return;
    }
    if (job.state === 'settled') return;
    const finished = job.handle(message, Date.now());
    job.onSettleCheck();
    if (finished && id === job.promptId) void this.finishFromHistory(job, id);
  }

  private noteStatus(message: ComfyMessage): void {
    const status = message.data['status'] as { exec_info?: { queue_remaining?: unknown } } | undefined;
    const count = status?.exec_info?.queue_remaining;
    if (typeof count === 'number' && Number.isFinite(count)) this.queueRemaining = { count, at: Date.now() };
  }

  private routeBinary(message: BinaryMessage): void {
    if (message.kind !== 'preview') return;
    const id = message.preview.promptId ?? this.executingId;
    const job = id === undefined ? undefined : this.jobs.get(id);
    if (job && job.state !== 'settled' && job.onPreview) {
      try {
        job.onPreview(message.preview);
      } catch {
        // A listener's failure is not the job's.
      }
    }
  }

  private buffer(id: string, message: ComfyMessage): void {
    const now = Date.now();
    for (const [key, value] of this.unclaimed) if (now - value.at > BUFFER_TTL_MS) this.unclaimed.delete(key);
    let entry = this.unclaimed.get(id);
    if (!entry) {
      if (this.unclaimed.size >= BUFFER_MAX_IDS) this.unclaimed.delete(this.unclaimed.keys().next().value!);
      entry = { at: now, messages: [] };
      this.unclaimed.set(id, entry);
    }
    if (entry.messages.length < 1000) entry.messages.push(message);
  }

  /** `executing null` is sent after history is written; a few retries cover proxies that reorder. */
  private async finishFromHistory(job: PromptJob, id: string): Promise<void> {
    for (let attempt = 0; attempt < 5 && job.state !== 'settled'; attempt++) {
      try {
        const entry = await this.history(id);
        if (entry) {
          this.settleFromHistory(job, entry);
          return;
        }
      } catch {
        // The watchdog decides about a server that stopped answering.
      }
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
    job.wake();
  }

  private settleFromHistory(job: PromptJob, entry: HistoryEntry): void {
    if (job.state === 'settled') return;
    const status = entry.status;
    const messages = status?.messages ?? [];
    const errorMsg = job.executionError ?? messages.find((m) => m[0] === 'execution_error')?.[1];
    const interrupted = job.interrupted || messages.some((m) => m[0] === 'execution_interrupted');
    if (status?.status_str === 'error' || errorMsg || (status && status.completed === false)) {
      if (errorMsg) {
        const nodeId = String(errorMsg['node_id'] ?? '?');
        const nodeType = String(errorMsg['node_type'] ?? job.workflow[nodeId]?.class_type ?? 'node');
        const exceptionType = String(errorMsg['exception_type'] ?? '');
        const text = String(errorMsg['exception_message'] ?? 'failed').trim();
        // Out of memory may pass on a retry (another job freed the GPU); other node failures repeat.
        const retryable = /OutOfMemory|out of memory|CUDA error/i.test(`${exceptionType} ${text}`);
        job.fail(
          new BackendFailedError(
            `ComfyUI node ${nodeId} ${nodeType} failed: ${text}${exceptionType ? ` (${exceptionType})` : ''}`,
            {
              retryable,
              details: { server: this.url, promptId: job.promptId, nodeId, nodeType, exceptionType },
            },
          ),
        );
        return;
      }
      if (interrupted) {
        job.fail(
          new BackendFailedError(`the job was interrupted on ComfyUI at ${this.url} (not by this run)`, {
            details: { server: this.url, promptId: job.promptId },
          }),
        );
        return;
      }
      job.fail(
        new BackendFailedError(
          `the job failed on ComfyUI at ${this.url} (${status?.status_str ?? 'no status'})`,
          { details: { server: this.url, promptId: job.promptId } },
        ),
      );
      return;
    }
    job.complete(entry.outputs ?? {});
  }

  private wakeAll(): void {
    for (const job of new Set(this.jobs.values())) job.wake();
  }
}

/**
 * Whether `error` is a job that ran past `jobTimeoutMs` on its server: the server took the work and never finished it
 * (a hung GPU, a deadlocked node) while still answering HTTP — which its probes cannot see, so the pool quarantines it
 * on this error instead.
 */
export function isJobTimeout(error: unknown): boolean {
  return (
    isStoryCoreError(error) &&
    error.code === ErrorCode.TIMEOUT &&
    typeof error.details['jobTimeoutMs'] === 'number'
  );
}

/** A history entry of a job that finished without error (its outputs can be taken as the job's). */
function succeeded(entry: HistoryEntry): boolean {
  const status = entry.status;
  if (!status) return true;
  if (status.status_str === 'error' || status.completed === false) return false;
  return !(status.messages ?? []).some((m) => m[0] === 'execution_error' || m[0] === 'execution_interrupted');
}

function httpStatusOf(error: unknown): number | undefined {
  const status = isStoryCoreError(error) ? error.details['status'] : undefined;
  return typeof status === 'number' ? status : undefined;
}
