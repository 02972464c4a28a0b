import { cancellationFrom, throwIfAborted } from '../../core/abort.js';
import {
  BackendFailedError,
  ErrorCode,
  ValidationError,
  errorMessage,
  isCancellation,
  isStoryCoreError,
  type ValidationIssue,
} from '../../core/errors.js';
import { decodeImage, rasterToSharp, createRaster, type Raster } from '../../image/raster.js';
import { validateGenerationRequest } from '../validate-request.js';
import type {
  GenerateOptions,
  GeneratedImage,
  GenerationPurpose,
  GenerationRequest,
  BackendStatus,
  ImageBackend,
  ServerStatus,
} from '../types.js';
import { classifyError } from '../../core/error-classify.js';
import { ComfyUiClient, isJobTimeout, type ComfyUiClientOptions } from './client.js';
import { PoolMember, ServerPool, serverName, type AdmitCheck, type PoolOptions } from './pool.js';
import type { ObjectInfo } from './object-info.js';
import type { OutputFile } from './prompt-job.js';
import { validateWorkflow } from './validate-workflow.js';
import { fillWorkflow, findFrameNode, usesPlaceholder, workflowHash, type Workflow } from './workflow.js';
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from '../../core/canonical-json.js';

/**
 * The ComfyUI image backend: the user's own API-format workflow, filled per request and run on one or more ComfyUI
 * servers pooled by `ServerPool` (least-loaded routing, failover, re-admission). Created by `createComfyUiBackend`, which
 * checks every server and validates the workflow against each server's `/object_info` before the run starts.
 */

export interface WorkflowSource {
  workflow: Workflow;
  /** Names the workflow in messages (its file path). */
  source: string;
}

export interface ComfyUiBackendOptions extends Omit<ComfyUiClientOptions, 'clientId'>, PoolOptions {
  /** Base URLs of the servers, e.g. `http://127.0.0.1:8188`. */
  servers: readonly string[];
  /** The workflow for shots (and regenerations). */
  workflow: WorkflowSource;
  /**
   * The workflow for the coherence sheet's panels. @default the shot workflow — which then must not need
   * `{{reference_image}}`, since the sheet is what later requests take as their reference.
   */
  panelWorkflow?: WorkflowSource;
  /** Tag in every output file name; unique per backend instance (so per run) unless given. */
  runTag?: string;
  signal?: AbortSignal;
}

interface PreparedWorkflow extends WorkflowSource {
  hash: string;
  frameNode: string;
  needsReference: boolean;
}

export class ComfyUiBackend implements ImageBackend {
  readonly name = 'comfyui';
  readonly version: string;
  readonly canRegenerate = true;
  private closed = false;

  constructor(
    private readonly pool: ServerPool,
    private readonly shotWorkflow: PreparedWorkflow,
    private readonly panelWorkflow: PreparedWorkflow,
    private readonly runTag: string,
  ) {
    // Part of every step's input hash, fixed for the backend's life: the set of ComfyUI versions of the servers that
    // qualified at start. A server leaving mid-run changes nothing; an upgrade (or a pool of other versions) reruns.
    this.version = [
      ...new Set(pool.members.flatMap((m) => (m.state === 'up' && m.version ? [m.version] : []))),
    ]
      .sort()
      .join('+');
  }

  /** Shots worth having in flight: 1 running + queueDepth queued on every server that qualified. */
  get capacity(): number {
    return this.pool.capacity;
  }

  get serverUrls(): string[] {
    return this.pool.members.map((m) => m.client.url);
  }

  /** Every server's state now: up, down or excluded (with why), our jobs and other users' on it. */
  servers(): ServerStatus[] {
    return this.pool.snapshot();
  }

  onStatus(listener: (status: BackendStatus) => void): () => void {
    return this.pool.onStatus(listener);
  }

  fingerprint(purpose: GenerationPurpose): string {
    return `workflow:${(purpose === 'sheet-panel' ? this.panelWorkflow : this.shotWorkflow).hash}`;
  }

  /**
   * Runs the request on the least-loaded live server. When that server fails (unreachable, 5xx, hung, lost the job)
   * or is taken out of the pool while the job waits, the job moves to another server; a node's own error is the
   * request's and is not retried here.
   */
  async generate(request: GenerationRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    const { signal } = options;
    validateGenerationRequest(request);
    throwIfAborted(signal);
    if (this.closed) throw new BackendFailedError('the ComfyUI backend is closed', { retryable: false });
    const prepared = request.purpose === 'sheet-panel' ? this.panelWorkflow : this.shotWorkflow;
    if (prepared.needsReference && !request.reference) {
      throw new ValidationError(
        `${prepared.source} uses {{reference_image}} but this ${request.purpose} request has no reference image`,
        [{ path: 'reference', message: 'required by the workflow' }],
      );
    }
    const label = request.label ?? request.purpose;
    const jobId = promptIdFor(prepared.hash, request);
    // A server that already holds this work (queued, running or done: a worker that died left it there) is
    // preferred, so the job is attached to rather than run twice.
    const holder = this.pool.members.length > 1 ? await this.pool.locate(jobId, signal) : undefined;
    const avoid = new Set<PoolMember>();
    const maxMoves = this.pool.members.length * 2;
    let movedFrom: PoolMember | undefined;
    for (let attempt = 0; ; attempt++) {
      let member: PoolMember;
      try {
        member = await this.pool.acquire(signal, avoid, attempt === 0 ? holder : undefined);
      } catch (error) {
        if (movedFrom) this.pool.moved(movedFrom, label, undefined);
        throw error;
      }
      if (movedFrom) this.pool.moved(movedFrom, label, member);
      movedFrom = undefined;
      const untrack = this.pool.track(member, label);
      const attemptSignal = signal ? AbortSignal.any([signal, member.downSignal]) : member.downSignal;
      let promptId: string | undefined;
      try {
        const image = await this.runOn(member, prepared, request, options, attemptSignal, jobId, (id) => {
          if (promptId) member.promptIds.delete(promptId);
          promptId = id;
          member.promptIds.add(id);
        });
        this.pool.succeeded(member);
        return image;
      } catch (error) {
        if (signal?.aborted) throw cancellationFrom(signal);
        if (member.downSignal.aborted) {
          // Taken out of the pool while this job waited there: move it; if the server comes back, its copy is
          // deleted from the queue there.
          if (promptId) member.stale.add(promptId);
          movedFrom = member;
          avoid.add(member);
          continue;
        }
        if (!serverFault(error) || attempt >= maxMoves) throw error;
        if (isJobTimeout(error)) {
          // The server hung on this job (still answering, never finishing it): out of the pool, even the last one;
          // the client already asked it to delete and interrupt the job, and re-admission asks again while it runs.
          this.pool.quarantine(member, label, error);
          if (promptId) member.stale.add(promptId);
          movedFrom = member;
          avoid.add(member);
          if (this.pool.hasAlternative(avoid)) continue;
          // Nowhere to move it now: the step's retry waits for a server (up to the outage timeout).
          this.pool.moved(member, label, undefined);
          throw error;
        }
        if (!this.pool.hasAlternative(new Set([...avoid, member]))) throw error;
        // The server failed this job (unreachable, 5xx, timeout, lost it): count it against the server and try
        // another one.
        this.pool.failedJob(member, label, error);
        if (promptId && member.state === 'down') member.stale.add(promptId);
        movedFrom = member;
        avoid.add(member);
      } finally {
        if (promptId) member.promptIds.delete(promptId);
        untrack();
        this.pool.release(member);
      }
    }
  }

  private async runOn(
    member: PoolMember,
    prepared: PreparedWorkflow,
    request: GenerationRequest,
    options: GenerateOptions,
    signal: AbortSignal,
    jobId: string | undefined,
    onSubmitted: (promptId: string) => void,
  ): Promise<GeneratedImage> {
    const { onProgress } = options;
    const client = member.client;
    onProgress?.({ fraction: 0, message: `submitting to ${member.name}` });
    const referenceName =
      prepared.needsReference && request.reference
        ? await this.upload(member, request.reference.png, request.reference.sha256, signal)
        : '';
    const label = safeLabel(request.label ?? request.purpose);
    // Nothing here depends on the server: the same request fills the same workflow wherever it runs.
    const workflow = fillWorkflow(
      prepared.workflow,
      {
        prompt: request.prompt,
        negative_prompt: request.negativePrompt ?? '',
        seed: request.seed,
        width: request.width,
        height: request.height,
        reference_image: referenceName,
        filename_prefix: `storycore/${this.runTag}/${label}_${request.seed}`,
        shot_id: request.label ?? '',
      },
      member.info!,
    );
    const result = await client.run(workflow, {
      signal,
      onSubmitted,
      ...(jobId === undefined ? {} : { promptId: jobId }),
      ...(onProgress ? { onProgress } : {}),
      ...(options.onPreview
        ? { onPreview: (p) => options.onPreview!({ format: p.format, bytes: p.bytes }) }
        : {}),
    });
    const file = result.outputs[prepared.frameNode]?.images?.[0];
    if (!file) {
      throw new BackendFailedError(
        `ComfyUI at ${client.url} finished the job but node ${prepared.frameNode} (${prepared.workflow[prepared.frameNode]?.class_type}) produced no image`,
        { details: { server: client.url, promptId: result.promptId, nodeId: prepared.frameNode } },
      );
    }
    let bytes: Buffer;
    try {
      bytes = await client.download(file, signal);
    } catch (error) {
      // The finished job we attached to had its files removed from the server's output folder since: run the
      // work again under a fresh id.
      if (result.attached !== 'finished' || !isStoryCoreError(error) || error.code !== ErrorCode.NOT_FOUND)
        throw error;
      return this.runOn(member, prepared, request, options, signal, undefined, onSubmitted);
    }
    const raster = await toRequestedSize(await decodeOutput(bytes, file, client.url), request, signal);
    onProgress?.({ fraction: 1, message: 'done' });
    return {
      raster,
      metadata: {
        backend: this.name,
        draft: false,
        seed: request.seed,
        server: client.url,
        comfyuiVersion: member.version,
        promptId: result.promptId,
        workflow: prepared.source,
        workflowSha256: prepared.hash,
        output: file,
        cached: result.cachedNodes.length > 0 && result.cachedNodes.length >= Object.keys(workflow).length,
        ...(result.attached ? { attached: result.attached } : {}),
        ...(result.resubmissions > 0 ? { resubmissions: result.resubmissions } : {}),
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
    await Promise.all(this.pool.members.map((m) => m.client.close()));
  }

  private upload(member: PoolMember, png: Buffer, sha256: string, signal: AbortSignal): Promise<string> {
    let pending = member.uploads.get(sha256);
    if (!pending) {
      // Named by content: the same sheet is uploaded once per server, and a name never points at other bytes.
      pending = member.client.uploadImage(png, `storycore-ref-${sha256.slice(0, 32)}.png`, signal);
      member.uploads.set(sha256, pending);
      pending.catch(() => member.uploads.delete(sha256));
    }
    return pending;
  }
}

/**
 * Whether another server may do better: the error's own retryability (unreachable, 5xx, timeout, lost job). Our
 * errors decide for themselves first: classifyError reads a request timeout whose cause is the fetch's AbortError as
 * a cancellation.
 */
function serverFault(error: unknown): boolean {
  if (isCancellation(error) && !isStoryCoreError(error)) return false;
  return isStoryCoreError(error) ? error.retryable : classifyError(error).retryable;
}

function safeLabel(label: string): string {
  return label.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 64) || 'frame';
}

async function decodeOutput(bytes: Buffer, file: OutputFile, server: string): Promise<Raster> {
  try {
    return await decodeImage(bytes);
  } catch (error) {
    throw new BackendFailedError(
      `ComfyUI at ${server} returned ${file.filename} (${bytes.length} bytes), which is not a readable image: ${errorMessage(error)}`,
      { cause: error, details: { server, file } },
    );
  }
}

/** Centre-fill to the requested size when a workflow's output differs (a fixed-size model, an upscaler). */
async function toRequestedSize(
  raster: Raster,
  request: GenerationRequest,
  signal?: AbortSignal,
): Promise<Raster> {
  if (raster.width === request.width && raster.height === request.height) return raster;
  if (signal?.aborted) throw cancellationFrom(signal);
  const data = await rasterToSharp(raster)
    .resize(request.width, request.height, { fit: 'cover', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return createRaster(request.width, request.height, data);
}

function prepare(source: WorkflowSource, info: ObjectInfo): PreparedWorkflow {
  return {
    ...source,
    hash: workflowHash(source.workflow),
    frameNode: findFrameNode(source.workflow, info, source.source),
    needsReference: usesPlaceholder(source.workflow, 'reference_image'),
  };
}

/** Problems of the workflows on one server, each naming the workflow file, the node and the server. */
function workflowIssues(
  workflows: readonly WorkflowSource[],
  info: ObjectInfo,
  url: string,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const wf of workflows) {
    for (const issue of validateWorkflow(wf.workflow, info)) {
      issues.push({ path: `${wf.source}${issue.path.slice(1)}`, message: `${url}: ${issue.message}` });
    }
  }
  return issues;
}

/**
 * Connects to every server (version, `/object_info`) and validates the workflows against each before anything is
 * queued. A server that does not validate is excluded for the run, one that does not answer starts as down (probed,
 * and admitted once it answers and validates); the run starts when at least one server qualifies. Otherwise throws a
 * ValidationError listing every problem per server and node, or the first server's unreachable error.
 */
export async function createComfyUiBackend(options: ComfyUiBackendOptions): Promise<ComfyUiBackend> {
  const { signal } = options;
  if (options.servers.length === 0) {
    throw new ValidationError('no ComfyUI server given', [
      { path: 'backend.servers', message: 'list at least one server URL' },
    ]);
  }
  const runTag = options.runTag ?? randomBytes(6).toString('hex');
  const clients = options.servers.map((url) => new ComfyUiClient(url, options));
  const workflows = [options.workflow, ...(options.panelWorkflow ? [options.panelWorkflow] : [])];
  try {
    const probes = await Promise.allSettled(
      clients.map(async (client) => {
        // Version first: a server that does not answer it is not waited for through /object_info's long timeout.
        const features = await client.serverFeatures(signal);
        return { version: features.version, info: await client.objectInfo(signal) };
      }),
    );
    throwIfAborted(signal);
    const issues: ValidationIssue[] = [];
    const members = clients.map((client, i) => {
      const probe = probes[i]!;
      const name = serverName(client.url);
      if (probe.status === 'rejected') {
        return new PoolMember(client, name, 'down', errorMessage(probe.reason));
      }
      const found = workflowIssues(workflows, probe.value.info, client.url);
      issues.push(...found);
      const member =
        found.length > 0
          ? new PoolMember(client, name, 'excluded', summarizeIssues(found))
          : new PoolMember(client, name, 'up');
      member.version = probe.value.version;
      member.info = probe.value.info;
      return member;
    });
    const first = members.find((m) => m.state === 'up');
    if (!first) {
      if (issues.length > 0) {
        throw new ValidationError(
          `the workflow does not validate against the server${members.length > 1 ? 's' : ''} (${issues.length} problem${issues.length > 1 ? 's' : ''})`,
          issues,
        );
      }
      throw (probes.find((p) => p.status === 'rejected') as PromiseRejectedResult).reason;
    }
    const shot = prepare(options.workflow, first.info!);
    const panel = options.panelWorkflow ? prepare(options.panelWorkflow, first.info!) : shot;
    if (panel.needsReference) {
      const message = `${panel.source} takes {{reference_image}}, but the coherence sheet's panels are made before there is a reference; give a panel workflow without it (backend.panelWorkflow / --panel-workflow)`;
      throw new ValidationError(message, [{ path: 'backend.panelWorkflow', message }]);
    }
    const versions = new Set(members.flatMap((m) => (m.state === 'up' && m.version ? [m.version] : [])));
    // A server that was down at start joins when it answers, validates, and runs a version already in the input
    // hash (otherwise frames from it would be filed under a version they were not made with).
    const admit: AdmitCheck = async (member, admitSignal) => {
      const features = await member.client.systemStats(admitSignal);
      const version = features.system?.comfyui_version ?? 'unknown';
      if (!versions.has(version)) {
        return `runs ComfyUI ${version}, not the pool's ${[...versions].join('+')}; rerun to include it`;
      }
      const info = member.info ?? (await member.client.objectInfo(admitSignal));
      const found = workflowIssues(workflows, info, member.client.url);
      if (found.length > 0) return summarizeIssues(found);
      member.version = version;
      member.info = info;
      return undefined;
    };
    const pool = new ServerPool(members, admit, options);
    return new ComfyUiBackend(pool, shot, panel, runTag);
  } catch (error) {
    await Promise.all(clients.map((c) => c.close()));
    throw error;
  }
}

function summarizeIssues(issues: readonly ValidationIssue[]): string {
  const first = issues[0]!.message;
  return issues.length === 1 ? first : `${first} (and ${issues.length - 1} more problem(s))`;
}

/**
 * The ComfyUI prompt id of a request: derived from everything the job computes (the workflow's hash and the
 * request's values), never from the process or the server, so every worker that runs the same step asks for the same
 * id and finds a job another worker left on the server. Formatted as a lowercase hyphenated UUID (version 8, the
 * RFC 9562 custom layout), which servers that check ids demand.
 */
export function promptIdFor(workflowSha256: string, request: GenerationRequest): string {
  const hex = createHash('sha256')
    .update(
      canonicalJson({
        v: 1,
        workflow: workflowSha256,
        purpose: request.purpose,
        prompt: request.prompt,
        negativePrompt: request.negativePrompt ?? '',
        seed: request.seed,
        width: request.width,
        height: request.height,
        reference: request.reference?.sha256 ?? null,
        label: request.label ?? '',
      }),
    )
    .digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
