import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { ImageBackend } from '../backends/types.js';
import { ValidationError } from '../core/errors.js';
import type { Project } from '../project/schema.js';

/** The optional body of `POST /api/projects/:id/runs` and `POST /api/runs/:id/resume`. */
export interface RunSettings {
  backend?: 'draft' | 'comfyui';
  servers?: string[];
  /** A ComfyUI workflow in API format, inline, or the path of one (relative to the workspace). */
  workflow?: unknown;
  fresh?: boolean;
}

/** Checks the request body's shape, naming the field at fault; an absent body is `{}`. */
export function parseRunSettings(body: unknown): RunSettings {
  if (body === undefined || body === null) return {};
  const bad = (path: string, message: string): never => {
    throw new ValidationError(`invalid run settings: ${path}: ${message}`, [{ path, message }]);
  };
  if (typeof body !== 'object' || Array.isArray(body)) return bad('$', 'must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!['backend', 'servers', 'workflow', 'fresh'].includes(key)) bad(`$.${key}`, 'unknown setting');
  }
  const out: RunSettings = {};
  if (b['backend'] !== undefined) {
    if (b['backend'] !== 'draft' && b['backend'] !== 'comfyui')
      bad('$.backend', 'must be "draft" or "comfyui"');
    out.backend = b['backend'] as 'draft' | 'comfyui';
  }
  if (b['servers'] !== undefined) {
    const servers = b['servers'];
    if (!Array.isArray(servers) || servers.length === 0)
      return bad('$.servers', 'must be a non-empty list of URLs');
    servers.forEach((s, i) => {
      if (typeof s !== 'string' || !/^https?:\/\/\S+$/.test(s)) {
        bad(`$.servers[${i}]`, 'must be an http:// or https:// URL, e.g. http://127.0.0.1:8188');
      }
    });
    out.servers = servers as string[];
  }
  if (b['workflow'] !== undefined) out.workflow = b['workflow'];
  if (b['fresh'] !== undefined) {
    if (typeof b['fresh'] !== 'boolean') bad('$.fresh', 'must be true or false');
    out.fresh = b['fresh'] as boolean;
  }
  return out;
}

/**
 * The backend a run asks for: the request's settings first, then the project's `backend`, else the draft renderer
 * (undefined: the service's default). Relative workflow paths resolve from the workspace.
 */
export async function backendFor(
  settings: RunSettings,
  project: Project,
  workspace: string,
  signal: AbortSignal,
): Promise<ImageBackend | undefined> {
  const type = settings.backend ?? (settings.servers ? 'comfyui' : (project.backend?.type ?? 'draft'));
  if (type === 'draft') return undefined;
  const servers = settings.servers ?? project.backend?.servers;
  const workflowValue = settings.workflow ?? project.backend?.workflow;
  if (!servers?.length || workflowValue === undefined) {
    throw new ValidationError('the comfyui backend needs servers and a workflow', [
      { path: servers?.length ? '$.workflow' : '$.servers', message: 'missing' },
    ]);
  }
  const { parseWorkflow, createComfyUiBackend } = await import('../backends/comfyui/index.js');
  const workflow = await loadWorkflow(workflowValue, workspace, parseWorkflow);
  return createComfyUiBackend({ servers, workflow, signal });
}

/** A workflow given inline or as a file path (relative to the workspace), parsed; what is wrong is named. */
export async function loadWorkflow<W>(
  value: unknown,
  workspace: string,
  parse: (value: unknown, source: string) => W,
): Promise<{ workflow: W; source: string }> {
  if (typeof value !== 'string')
    return { workflow: parse(value, 'request workflow'), source: 'request workflow' };
  const path = isAbsolute(value) ? value : resolve(workspace, value);
  const text = await readFile(path, 'utf8').catch(() => {
    throw new ValidationError(`workflow file ${path} cannot be read`, [
      { path: '$.workflow', message: 'not readable' },
    ]);
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ValidationError(`workflow file ${path} is not valid JSON`, [
      { path: '$.workflow', message: 'not JSON' },
    ]);
  }
  return { workflow: parse(parsed, path), source: path };
}
