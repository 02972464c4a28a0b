/**
 * ComfyUI's PromptQueue + prompt_worker + PromptExecutor in one: a priority queue (by `number`), one worker running
 * one job at a time, the output cache of the last prompt ("classic" cache: identical nodes are not re-run), the
 * history written before `executing {node: null}`, and every WebSocket message in the order a real 0.3.64 sends them
 * (see the index's doc comment for how that was checked).
 */
import { createHash } from 'node:crypto';
import type { FaultState } from './faults.js';
import type { FileStore } from './files.js';
import type { SocketHub } from './hub.js';
import { NODES, NodeRuntimeError, type NodeContext, type NodeResult } from './nodes.js';
import type { ObjectInfo } from './object-info.js';
import type { Workflow } from './validation.js';

export interface Job {
  number: number;
  promptId: string;
  prompt: Workflow;
  extraData: Record<string, unknown>;
  outputs: string[];
}
type Message = [string, Record<string, unknown>];
interface HistoryEntry {
  prompt: [number, string, Workflow, Record<string, unknown>, string[]];
  outputs: Record<string, unknown>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: Message[] };
  meta: Record<string, unknown>;
}
export interface ExecutorOptions {
  hub: SocketHub;
  files: FileStore;
  faults: FaultState;
  info: () => ObjectInfo;
  progressState: boolean;
  samplerStepMs: number;
  previews: boolean;
  /** Called when lose-jobs fires at a job's start: the server "restarts" under it. */
  onLoseJobs: () => void;
}

const HISTORY_MAX = 10_000;
class Interrupted extends Error {}
class Abandoned extends Error {}
const isLink = (v: unknown): v is [string, number] =>
  Array.isArray(v) && v.length === 2 && typeof v[1] === 'number';

export class Executor {
  private pending: Job[] = [];
  private running: Job | undefined;
  private runningNode: string | undefined;
  readonly history = new Map<string, HistoryEntry>();
  private cache = new Map<string, NodeResult>();
  private interruptFlag = false;
  private life = new AbortController();
  private wake: (() => void) | undefined;

  constructor(private readonly o: ExecutorOptions) {
    void this.loop(this.life.signal);
  }

  queueRemaining(): number {
    return this.pending.length + (this.running ? 1 : 0);
  }

  /** `[number, prompt_id, prompt, extra_data, outputs_to_execute]`, as /queue and history show a job. */
  static item(j: Job): HistoryEntry['prompt'] {
    return [j.number, j.promptId, j.prompt, j.extraData, j.outputs];
  }

  queue(): { running: Job[]; pending: Job[] } {
    return { running: this.running ? [this.running] : [], pending: [...this.pending] };
  }

  enqueue(job: Job): void {
    // A heap ordered by number in ComfyUI; equal numbers keep their arrival order.
    const at = this.pending.findIndex((p) => p.number > job.number);
    this.pending.splice(at < 0 ? this.pending.length : at, 0, job);
    this.broadcastStatus();
    this.wake?.();
  }

  /** POST /queue {delete}: pending jobs only; the running one is untouched (as on the real server). */
  delete(ids: readonly string[]): void {
    const before = this.pending.length;
    this.pending = this.pending.filter((j) => !ids.includes(j.promptId));
    if (this.pending.length !== before) this.broadcastStatus();
  }

  clearPending(): void {
    this.pending = [];
    this.broadcastStatus();
  }

  /** Without an id: whatever runs. With one: only if that job is the running one (0.3.64's targeted interrupt). */
  interrupt(promptId?: string): void {
    if (promptId === undefined || this.running?.promptId === promptId) this.interruptFlag = true;
  }

  /** Whether the job has begun (running or already in history). */
  started(promptId: string): boolean {
    return this.running?.promptId === promptId || this.history.has(promptId);
  }

  /** What a socket reconnecting mid-job is told: the node its job is executing (ComfyUI sends no prompt_id here). */
  currentNodeFor(sid: string): string | undefined {
    return this.running?.extraData['client_id'] === sid ? this.runningNode : undefined;
  }

  /** A server restart: queue, history, cache and the running job are gone; no message is sent about them. */
  shutdown(): void {
    this.life.abort();
    this.wake?.();
    this.pending = [];
    this.running = undefined;
    this.runningNode = undefined;
    this.history.clear();
    this.cache.clear();
  }

  restartWorker(): void {
    this.life = new AbortController();
    void this.loop(this.life.signal);
  }

  private broadcastStatus(): void {
    this.o.hub.send(
      'status',
      { status: { exec_info: { queue_remaining: this.queueRemaining() } } },
      undefined,
    );
  }

  private async loop(life: AbortSignal): Promise<void> {
    while (!life.aborted) {
      const job = this.pending.shift();
      if (!job) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      this.running = job;
      this.broadcastStatus();
      try {
        await this.execute(job, life);
      } catch (e) {
        if (!(e instanceof Abandoned)) throw e;
      }
    }
  }

  private async execute(job: Job, life: AbortSignal): Promise<void> {
    const sid = job.extraData['client_id'] as string | undefined;
    const { hub, faults } = this.o;
    const pid = job.promptId;
    const messages: Message[] = [];
    const now = () => Date.now();
    // add_message: recorded in history; sent only to the job's client unless it is a broadcast (interrupts).
    const add = (type: string, data: Record<string, unknown>, broadcast = false) => {
      messages.push([type, data]);
      if (sid !== undefined || broadcast) hub.send(type, data, sid);
    };
    const alive = () => {
      if (life.aborted) throw new Abandoned();
    };
    this.interruptFlag = false;
    if (faults.takeLoseJobs()) {
      this.o.onLoseJobs();
      throw new Abandoned();
    }
    add('execution_start', { prompt_id: pid, timestamp: now() });

    const prompt = job.prompt;
    const sigs = new Map<string, string>();
    const signature = (id: string): string => {
      const known = sigs.get(id);
      if (known !== undefined) return known;
      const node = prompt[id]!;
      const inputs = Object.entries(node.inputs ?? {})
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, isLink(v) ? [signature(String(v[0])), v[1]] : v]);
      // Hashed so a long chain's signature stays short (each embeds its upstream's).
      const sig = createHash('sha256')
        .update(JSON.stringify([node.class_type, inputs]))
        .digest('hex');
      sigs.set(id, sig);
      return sig;
    };
    const cached = Object.keys(prompt).filter((id) => this.cache.has(signature(id)));
    add('execution_cached', { nodes: cached, prompt_id: pid, timestamp: now() });
    if (faults.has('drop-socket-mid-job')) hub.terminateAll();

    // ExecutionList: outputs, plus every non-cached node they need; each blocked until its non-cached inputs ran.
    const info = this.o.info();
    const isOutput = (id: string) => info[prompt[id]!.class_type as string]?.output_node === true;
    const staged: string[] = [];
    const deps = new Map<string, Set<string>>();
    const visit = (id: string) => {
      if (deps.has(id)) return;
      deps.set(id, new Set());
      staged.push(id);
      for (const v of Object.values(prompt[id]!.inputs ?? {})) {
        if (!isLink(v) || this.cache.has(signature(String(v[0])))) continue;
        deps.get(id)!.add(String(v[0]));
        visit(String(v[0]));
      }
    };
    job.outputs.forEach(visit);

    const results = new Map<string, NodeResult>();
    const ui: Record<string, unknown> = {};
    const executed: string[] = [];
    const states: Record<string, Record<string, unknown>> = {};
    const progressState = (id: string, value: number, max: number, state: string) => {
      if (!this.o.progressState) return;
      states[id] = {
        value,
        max,
        state,
        node_id: id,
        prompt_id: pid,
        display_node_id: id,
        parent_node_id: null,
        real_node_id: id,
      };
      hub.send('progress_state', { prompt_id: pid, nodes: structuredClone(states) }, sid);
    };
    const blockedBy = (id: string) => staged.filter((other) => deps.get(other)!.has(id));
    // ux_friendly_pick_node: an output first, then a node feeding an output, then one two steps from an output.
    const pick = (ready: string[]): string =>
      ready.find(isOutput) ??
      ready.find((id) => blockedBy(id).some(isOutput)) ??
      ready.find((id) => blockedBy(id).some((b) => blockedBy(b).some(isOutput))) ??
      ready[0]!;

    try {
      while (staged.length > 0) {
        const ready = staged.filter((id) => [...deps.get(id)!].every((d) => results.has(d)));
        const id = pick(ready);
        staged.splice(staged.indexOf(id), 1);
        const node = prompt[id]!;
        const sig = signature(id);
        const hit = this.cache.get(sig);
        if (hit) {
          if (sid !== undefined) {
            hub.send('executed', { node: id, display_node: id, output: hit.ui ?? null, prompt_id: pid }, sid);
          }
          if (hit.ui) ui[id] = hit.ui;
          results.set(id, hit);
          progressState(id, 1, 1, 'finished');
          continue;
        }
        await faults.waitWhileStalled(life);
        alive();
        progressState(id, 0, 1, 'running');
        this.runningNode = id;
        hub.send('executing', { node: id, display_node: id, prompt_id: pid }, sid);
        if (this.interruptFlag) throw new Interrupted(id);
        const inputs: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(node.inputs ?? {})) {
          if (!isLink(v)) inputs[k] = v;
          else {
            const up = String(v[0]);
            inputs[k] = (results.get(up) ?? this.cache.get(signature(up)))!.outputs[v[1]];
          }
        }
        const ctx: NodeContext = {
          files: this.o.files,
          step: async (value, max, preview) => {
            await sleep(this.o.samplerStepMs, life);
            await faults.waitWhileStalled(life);
            alive();
            if (this.interruptFlag) throw new Interrupted(id);
            hub.send('progress', { value, max, prompt_id: pid, node: id }, sid);
            progressState(id, value, max, 'running');
            if (this.o.previews) {
              const head = Buffer.alloc(8);
              head.writeUInt32BE(1, 0);
              head.writeUInt32BE(2, 4);
              hub.sendBinary(Buffer.concat([head, await preview()]), sid);
            }
          },
        };
        const fn = NODES[node.class_type as string]!;
        let result: NodeResult;
        try {
          result = await fn(inputs, ctx);
        } catch (e) {
          if (e instanceof Interrupted || e instanceof Abandoned) throw e;
          const error = e instanceof NodeRuntimeError ? e : new NodeRuntimeError(String(e), 'Exception');
          throw Object.assign(error, { nodeId: id, currentInputs: inputs });
        }
        alive();
        results.set(id, result);
        this.cache.set(sig, result);
        executed.push(id);
        if (result.ui) {
          ui[id] = result.ui;
          if (sid !== undefined) {
            hub.send('executed', { node: id, display_node: id, output: result.ui, prompt_id: pid }, sid);
          }
        }
        progressState(id, 1, 1, 'finished');
      }
      add('execution_success', { prompt_id: pid, timestamp: now() });
      this.finish(job, messages, ui, 'success', true, sid);
    } catch (e) {
      if (e instanceof Abandoned || life.aborted) throw new Abandoned();
      if (e instanceof Interrupted) {
        const nodeId = e.message;
        const data = {
          prompt_id: pid,
          node_id: nodeId,
          node_type: prompt[nodeId]!.class_type,
          executed,
          timestamp: now(),
        };
        add('execution_interrupted', data, true);
      } else {
        const err = e as NodeRuntimeError & { nodeId: string; currentInputs: Record<string, unknown> };
        add('execution_error', {
          prompt_id: pid,
          node_id: err.nodeId,
          node_type: prompt[err.nodeId]!.class_type,
          executed,
          exception_message: `${err.message}\n`,
          exception_type: err.pyType,
          traceback: [`  File "comfyui-double/nodes.ts", in ${String(prompt[err.nodeId]!.class_type)}\n`],
          current_inputs: describeInputs(err.currentInputs),
          current_outputs: [...executed],
          timestamp: now(),
        });
      }
      this.finish(job, messages, ui, 'error', false, sid);
    } finally {
      // The classic cache keeps only what the last prompt used.
      const keep = new Set(Object.keys(prompt).map(signature));
      for (const k of [...this.cache.keys()]) if (!keep.has(k)) this.cache.delete(k);
    }
  }

  /** task_done: history first, then the queue status, then `executing null` — the order clients rely on. */
  private finish(
    job: Job,
    messages: Message[],
    ui: Record<string, unknown>,
    status: 'success' | 'error',
    completed: boolean,
    sid: string | undefined,
  ): void {
    const meta: Record<string, unknown> = {};
    for (const id of Object.keys(ui)) {
      meta[id] = { node_id: id, display_node: id, parent_node: null, real_node_id: id };
    }
    this.history.set(job.promptId, {
      prompt: Executor.item(job),
      outputs: ui,
      status: { status_str: status, completed, messages },
      meta,
    });
    while (this.history.size > HISTORY_MAX) this.history.delete(this.history.keys().next().value!);
    this.running = undefined;
    this.runningNode = undefined;
    this.broadcastStatus();
    this.o.hub.send('executing', { node: null, prompt_id: job.promptId }, sid);
  }
}

/** ComfyUI formats current_inputs as lists of printable values; images become a shape description. */
function describeInputs(inputs: Record<string, unknown>): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [k, v] of Object.entries(inputs)) {
    out[k] = [typeof v === 'object' && v !== null ? `<${Array.isArray(v) ? 'tensor' : 'object'}>` : v];
  }
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = (): void => (clearTimeout(t), resolve());
    // The listener goes when the step ends: a job's signal outlives hundreds of steps.
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
