import type { GenerationProgress } from '../types.js';
import type { ComfyMessage, PreviewImage } from './messages.js';
import type { Workflow } from './workflow.js';

/**
 * One queued workflow on one server, as a small state machine (submitting → queued → running → settled) driven both
 * by the server's WebSocket messages and by polling, so that no single missed message can hang it. It only keeps
 * state and turns messages into progress; the client does the I/O.
 */

export interface OutputFile {
  filename: string;
  subfolder: string;
  type: string;
}
export type NodeOutputs = Record<string, { images?: OutputFile[]; [key: string]: unknown }>;

export interface HistoryEntry {
  outputs?: NodeOutputs;
  status?: { status_str?: string; completed?: boolean; messages?: Array<[string, Record<string, unknown>]> };
}

export type JobState = 'submitting' | 'queued' | 'running' | 'settled';

export class PromptJob {
  state: JobState = 'submitting';
  /** The id the server knows this job by (after a resubmission, the new one). */
  promptId: string | undefined;
  resubmissions = 0;
  /**
   * The id to queue the job under the first time (derived from what the job computes): a job already queued,
   * running or finished under it is attached to instead of queued again. Resubmissions use fresh ids.
   */
  idempotentId: string | undefined;
  /** How the job was attached to an earlier submission of the same work, if it was. */
  attached: 'queued' | 'finished' | undefined;
  /** When the server started executing it (queue wait excluded): the job timeout counts from here. */
  startedAt: number | undefined;
  executionError: Record<string, unknown> | undefined;
  interrupted = false;
  readonly done = new Set<string>();
  readonly cached = new Set<string>();
  private current: string | undefined;
  private currentFraction = 0;
  private lastFraction = 0;
  private wakeUp: (() => void) | undefined;
  /** Set by the client that runs the job: settle it, or re-check its timers after a state change. */
  complete: (outputs: NodeOutputs) => void = () => undefined;
  fail: (error: unknown) => void = () => undefined;
  onSettleCheck: () => void = () => undefined;

  constructor(
    readonly workflow: Workflow,
    private readonly onProgress: ((p: GenerationProgress) => void) | undefined,
    readonly onPreview: ((p: PreviewImage) => void) | undefined,
  ) {}

  get nodeCount(): number {
    return Object.keys(this.workflow).length;
  }

  /** Resets per-attempt state when the job is submitted again (a server restart lost it). */
  resetForResubmit(): void {
    this.state = 'submitting';
    this.promptId = undefined;
    this.startedAt = undefined;
    this.executionError = undefined;
    this.interrupted = false;
    this.done.clear();
    this.cached.clear();
    this.current = undefined;
    this.currentFraction = 0;
  }

  markRunning(now: number): void {
    if (this.state === 'settled') return;
    this.state = 'running';
    this.startedAt ??= now;
  }

  /** Applies one message about this job. Returns true when it says the job is finished (`executing` with node null). */
  handle(message: ComfyMessage, now: number): boolean {
    const d = message.data;
    switch (message.type) {
      case 'execution_start':
        this.markRunning(now);
        this.report('started');
        return false;
      case 'execution_cached':
        this.markRunning(now);
        if (Array.isArray(d['nodes'])) for (const n of d['nodes']) this.cached.add(String(n));
        this.report(this.cached.size > 0 ? `${this.cached.size} node(s) cached` : 'started');
        return false;
      case 'executing': {
        this.markRunning(now);
        const node = d['node'];
        if (node === null || node === undefined) return true;
        if (this.current !== undefined && this.current !== String(node)) this.done.add(this.current);
        this.current = String(node);
        this.currentFraction = 0;
        this.report(this.describe(this.current));
        return false;
      }
      case 'progress': {
        const value = Number(d['value']);
        const max = Number(d['max']);
        if (Number.isFinite(value) && Number.isFinite(max) && max > 0) {
          if (typeof d['node'] === 'string') this.current = d['node'];
          this.currentFraction = Math.min(1, Math.max(0, value / max));
          this.report(`${this.describe(this.current)} ${value}/${max}`);
        }
        return false;
      }
      case 'progress_state': {
        const nodes = d['nodes'];
        if (typeof nodes === 'object' && nodes !== null) {
          let running: string | undefined;
          for (const [id, raw] of Object.entries(nodes as Record<string, Record<string, unknown>>)) {
            const state = raw?.['state'];
            if (state === 'finished') this.done.add(id);
            else if (state === 'running') running = id;
          }
          if (running !== undefined && running === this.current) {
            const r = (nodes as Record<string, Record<string, unknown>>)[running]!;
            const value = Number(r['value']);
            const max = Number(r['max']);
            if (max > 0 && Number.isFinite(value)) this.currentFraction = Math.min(1, value / max);
          }
          this.report(this.describe(this.current));
        }
        return false;
      }
      case 'execution_error':
        this.executionError = d;
        return false;
      case 'execution_interrupted':
        this.interrupted = true;
        return false;
      default:
        return false;
    }
  }

  /** Queue position while waiting ("queued (2 ahead)"). */
  reportQueued(ahead: number): void {
    if (this.state === 'running' || this.state === 'settled') return;
    this.state = 'queued';
    this.report(ahead > 0 ? `queued (${ahead} ahead)` : 'queued');
  }

  /** Ends the current poll wait at once (a socket event, a reconnect, a settle). */
  wake(): void {
    this.wakeUp?.();
  }

  waitForPoll(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private describe(nodeId: string | undefined): string {
    if (nodeId === undefined) return 'running';
    const cls = this.workflow[nodeId]?.class_type;
    return cls ? `${cls}` : `node ${nodeId}`;
  }

  /** Fraction of the job done: finished and cached nodes plus the running node's own progress; never goes back. */
  private report(message: string): void {
    if (!this.onProgress || this.state === 'settled') return;
    const total = Math.max(1, this.nodeCount);
    const finished = new Set([...this.done, ...this.cached]).size;
    const raw =
      (Math.min(finished, total) +
        (this.current && !this.done.has(this.current) ? this.currentFraction : 0)) /
      total;
    // 1 is reported by the backend once the frame is downloaded and decoded.
    this.lastFraction = Math.max(this.lastFraction, Math.min(0.95, raw));
    this.onProgress({ fraction: this.lastFraction, message });
  }
}
