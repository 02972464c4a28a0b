import type { GenerationStatus } from '../../src/core/status-tracker.js';
import type { ProjectInput } from '../../src/project/schema.js';
import type { StudioResults } from '../../src/server/results.js';

export type { GenerationStatus, ProjectInput, StudioResults };

/** What the API answers for a run (GET /api/runs/:id and the lists). */
export interface RunInfo {
  id: string;
  projectId: string;
  projectName: string;
  backend: string;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
  live: boolean;
  resumable: boolean;
  totalShots: number;
  createdAt: string;
  finishedAt?: string;
  error?: { code: string; message: string; rootCause?: string };
  progress?: number;
  stage?: string;
}

export interface ProjectSummary {
  id: string;
  name: string;
  shots: number;
  updatedAt: string;
}

export interface BackendSettings {
  backend: 'draft' | 'comfyui';
  servers: string[];
  /** Workflow file path on the server, or the workflow's JSON text. */
  workflow: string;
}

/** An API error: the server's message (it names what is wrong and where) and, for 400s, the issues. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: Array<{ path: string; message: string }> = [],
  ) {
    super(message);
  }
}

/** JSON over the API. The token (off loopback) travels in the cookie the server set when the page opened. */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    ...(init.body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) }),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  if (response.status === 204) return undefined as T;
  const body = (await response.json().catch(() => ({}))) as {
    error?: { code: string; message: string };
    issues?: Array<{ path: string; message: string }>;
  };
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body.error?.code ?? 'http',
      body.error?.message ?? `HTTP ${response.status}`,
      body.issues ?? [],
    );
  }
  return body as T;
}

/** The body a run request sends for the chosen backend. */
export function runBody(settings: BackendSettings): Record<string, unknown> {
  if (settings.backend === 'draft') return { backend: 'draft' };
  const text = settings.workflow.trim();
  let workflow: unknown = text;
  if (text.startsWith('{')) {
    try {
      workflow = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'validation', 'the workflow is not valid JSON', [
        { path: '$.workflow', message: 'invalid JSON' },
      ]);
    }
  }
  return { backend: 'comfyui', servers: settings.servers, workflow };
}
