import { cancellationFrom, throwIfAborted } from '../../core/abort.js';
import {
  BackendFailedError,
  ValidationError,
  errorMessage,
  type ValidationIssue,
} from '../../core/errors.js';
import { decodeImage, rasterToSharp, createRaster, type Raster } from '../../image/raster.js';
import { validateGenerationRequest } from '../validate-request.js';
import type {
  GenerateOptions,
  GeneratedImage,
  GenerationPurpose,
  GenerationRequest,
  ImageBackend,
} from '../types.js';
import { ComfyUiClient, type ComfyUiClientOptions } from './client.js';
import type { ObjectInfo } from './object-info.js';
import type { OutputFile } from './prompt-job.js';
import { validateWorkflow } from './validate-workflow.js';
import { fillWorkflow, findFrameNode, usesPlaceholder, workflowHash, type Workflow } from './workflow.js';
import { randomBytes } from 'node:crypto';

/**
 * The ComfyUI image backend: the user's own API-format workflow, filled per request and run on one or more ComfyUI
 * servers (each request goes to the server with the fewest jobs in flight). Created by `createComfyUiBackend`, which
 * checks every server and validates the workflow against each server's `/object_info` before the run starts.
 */

export interface WorkflowSource {
  workflow: Workflow;
  /** Names the workflow in messages (its file path). */
  source: string;
}

export interface ComfyUiBackendOptions extends Omit<ComfyUiClientOptions, 'clientId'> {
  /** Base URLs of the servers, e.g. `http://127.0.0.1:8188`. */
  servers: readonly string[];
  /** The workflow for shots (and regenerations). */
  workflow: WorkflowSource;
  /**
   * The workflow for the coherence sheet's panels. @default the shot workflow — which then must not need
   * `{{reference_image}}`, since the sheet is what later requests take as their reference.
   */
  panelWorkflow?: WorkflowSource;
  /** Jobs queued on one server at once: 2 keeps a GPU busy while the previous frame downloads. @default 2 */
  queueDepth?: number;
  /** Tag in every output file name; unique per backend instance (so per run) unless given. */
  runTag?: string;
  signal?: AbortSignal;
}

interface PreparedWorkflow extends WorkflowSource {
  hash: string;
  frameNode: string;
  needsReference: boolean;
}

interface Server {
  client: ComfyUiClient;
  version: string;
  info: ObjectInfo;
  /** sha256 of a reference image → the name it was uploaded under (one upload per server). */
  uploads: Map<string, Promise<string>>;
  inFlight: number;
}

export class ComfyUiBackend implements ImageBackend {
  readonly name = 'comfyui';
  readonly version: string;
  readonly capacity: number;
  readonly canRegenerate = true;
  private closed = false;

  constructor(
    private readonly servers: Server[],
    private readonly shotWorkflow: PreparedWorkflow,
    private readonly panelWorkflow: PreparedWorkflow,
    private readonly runTag: string,
    queueDepth: number,
  ) {
    // The servers' versions are part of every step's input hash: a ComfyUI upgrade reruns the shots.
    this.version = [...new Set(servers.map((s) => s.version))].sort().join('+');
    this.capacity = Math.max(1, servers.length * queueDepth);
  }

  get serverUrls(): string[] {
    return this.servers.map((s) => s.client.url);
  }

  fingerprint(purpose: GenerationPurpose): string {
    return `workflow:${(purpose === 'sheet-panel' ? this.panelWorkflow : this.shotWorkflow).hash}`;
  }

  async generate(request: GenerationRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    const { signal, onProgress } = options;
    validateGenerationRequest(request);
    throwIfAborted(signal);
    if (this.closed) throw new BackendFailedError('the ComfyUI backend is closed', { retryable: false });
    const prepared = request.purpose === 'sheet-panel' ? this.panelWorkflow : this.shotWorkflow;
    const server = this.pick();
    server.inFlight++;
    try {
      onProgress?.({ fraction: 0, message: `submitting to ${server.client.url}` });
      let referenceName = '';
      if (prepared.needsReference) {
        if (!request.reference) {
          throw new ValidationError(
            `${prepared.source} uses {{reference_image}} but this ${request.purpose} request has no reference image`,
            [{ path: 'reference', message: 'required by the workflow' }],
          );
        }
        referenceName = await this.upload(server, request.reference.png, request.reference.sha256, signal);
      }
      const label = safeLabel(request.label ?? request.purpose);
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
        server.info,
      );
      const result = await server.client.run(workflow, {
        ...(signal ? { signal } : {}),
        ...(onProgress ? { onProgress } : {}),
        ...(options.onPreview
          ? { onPreview: (p) => options.onPreview!({ format: p.format, bytes: p.bytes }) }
          : {}),
      });
      const file = result.outputs[prepared.frameNode]?.images?.[0];
      if (!file) {
        throw new BackendFailedError(
          `ComfyUI at ${server.client.url} finished the job but node ${prepared.frameNode} (${prepared.workflow[prepared.frameNode]?.class_type}) produced no image`,
          { details: { server: server.client.url, promptId: result.promptId, nodeId: prepared.frameNode } },
        );
      }
      const bytes = await server.client.download(file, signal);
      const raster = await toRequestedSize(
        await decodeOutput(bytes, file, server.client.url),
        request,
        signal,
      );
      onProgress?.({ fraction: 1, message: 'done' });
      return {
        raster,
        metadata: {
          backend: this.name,
          draft: false,
          seed: request.seed,
          server: server.client.url,
          comfyuiVersion: server.version,
          promptId: result.promptId,
          workflow: prepared.source,
          workflowSha256: prepared.hash,
          output: file,
          cached: result.cachedNodes.length > 0 && result.cachedNodes.length >= Object.keys(workflow).length,
          ...(result.resubmissions > 0 ? { resubmissions: result.resubmissions } : {}),
        },
      };
    } finally {
      server.inFlight--;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.servers.map((s) => s.client.close()));
  }

  /** The least busy server; ties go to the first listed. */
  private pick(): Server {
    let best = this.servers[0]!;
    for (const s of this.servers) if (s.inFlight < best.inFlight) best = s;
    return best;
  }

  private upload(
    server: Server,
    png: Buffer,
    sha256: string,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    let pending = server.uploads.get(sha256);
    if (!pending) {
      // Named by content: the same sheet is uploaded once per server, and a name never points at other bytes.
      pending = server.client.uploadImage(png, `storycore-ref-${sha256.slice(0, 32)}.png`, signal);
      server.uploads.set(sha256, pending);
      pending.catch(() => server.uploads.delete(sha256));
    }
    return pending;
  }
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

/**
 * Connects to every server (version, `/object_info`) and validates the workflows against each before anything is
 * queued. Throws a ValidationError listing every problem per server and node, or the first server's unreachable error.
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
  try {
    const servers: Server[] = await Promise.all(
      clients.map(async (client) => {
        const [features, info] = await Promise.all([
          client.serverFeatures(signal),
          client.objectInfo(signal),
        ]);
        return { client, version: features.version, info, uploads: new Map(), inFlight: 0 };
      }),
    );
    const issues: ValidationIssue[] = [];
    const workflows = [options.workflow, ...(options.panelWorkflow ? [options.panelWorkflow] : [])];
    for (const server of servers) {
      for (const wf of workflows) {
        for (const issue of validateWorkflow(wf.workflow, server.info)) {
          issues.push({
            path: `${wf.source}${issue.path.slice(1)}`,
            message: `${server.client.url}: ${issue.message}`,
          });
        }
      }
    }
    if (issues.length > 0) {
      throw new ValidationError(
        `the workflow does not validate against the server${servers.length > 1 ? 's' : ''} (${issues.length} problem${issues.length > 1 ? 's' : ''})`,
        issues,
      );
    }
    const shot = prepare(options.workflow, servers[0]!.info);
    const panel = options.panelWorkflow ? prepare(options.panelWorkflow, servers[0]!.info) : shot;
    if (panel.needsReference) {
      const message = `${panel.source} takes {{reference_image}}, but the coherence sheet's panels are made before there is a reference; give a panel workflow without it (backend.panelWorkflow / --panel-workflow)`;
      throw new ValidationError(message, [{ path: 'backend.panelWorkflow', message }]);
    }
    return new ComfyUiBackend(servers, shot, panel, runTag, options.queueDepth ?? 2);
  } catch (error) {
    await Promise.all(clients.map((c) => c.close()));
    throw error;
  }
}
