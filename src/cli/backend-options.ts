import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { Workflow } from '../backends/comfyui/workflow.js';
import type { ImageBackend } from '../backends/types.js';
import { ValidationError } from '../core/errors.js';
import type { Project } from '../project/schema.js';
import { intAtLeast } from './context.js';

/** The backend flags `generate` and `resume` share; they win over the project file's `backend`. */
export interface BackendFlags {
  backend?: string;
  comfyui?: string[];
  workflow?: string;
  panelWorkflow?: string;
  header?: string[];
  jobTimeout?: number;
  queueDepth?: number;
  outageTimeout?: number;
}

export function addBackendOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('-b, --backend <name>', "image backend (default: the project's, else draft)").choices([
        'draft',
        'comfyui',
      ]),
    )
    .option('--comfyui <url...>', 'ComfyUI server(s) to generate on (selects the comfyui backend)')
    .option('--workflow <file>', 'ComfyUI workflow for shots, exported with "Save (API format)"')
    .option(
      '--panel-workflow <file>',
      'ComfyUI workflow for the coherence sheet panels (default: --workflow)',
    )
    .option('--header <name:value...>', "extra HTTP header for the ComfyUI servers (a reverse proxy's token)")
    .option(
      '--job-timeout <s>',
      'longest one ComfyUI job may run, seconds (default 1800)',
      intAtLeast('--job-timeout', 1),
    )
    .option(
      '--queue-depth <n>',
      'jobs queued on each ComfyUI server behind the running one (default 1)',
      intAtLeast('--queue-depth', 0),
    )
    .option(
      '--outage-timeout <s>',
      'seconds to wait while every ComfyUI server is down before shots fail (default 60)',
      intAtLeast('--outage-timeout', 0),
    );
}

/** A workflow file read, parsed and shape-checked, or a ValidationError naming it. */
export async function loadWorkflowFile(
  path: string,
  signal?: AbortSignal,
): Promise<{ workflow: Workflow; source: string }> {
  // Loaded here, not at the top: `--version` and `--help` must not load zod or the backends (test/cli-startup).
  const [{ readProjectText }, { parseJsonText }, { parseWorkflow }] = await Promise.all([
    import('../project/load.js'),
    import('../project/json-syntax.js'),
    import('../backends/comfyui/workflow.js'),
  ]);
  const { file, text } = await readProjectText(path, {
    what: 'workflow file',
    maxBytes: 20 * 1024 * 1024,
    ...(signal ? { signal } : {}),
  });
  const parsed = parseJsonText(text);
  if (!parsed.ok) {
    const { line, column, reason } = parsed.problem;
    throw new ValidationError(
      `workflow file ${file} is not valid JSON: ${reason} at line ${line}, column ${column}`,
      [{ path: '$', message: reason }],
    );
  }
  return { workflow: parseWorkflow(parsed.value, file), source: file };
}

export function parseHeaders(values: readonly string[] = []): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const v of values) {
    const at = v.indexOf(':');
    if (at <= 0) {
      throw new ValidationError(`--header "${v}" is not "Name: value"`, [
        { path: '--header', message: 'expected Name: value' },
      ]);
    }
    headers[v.slice(0, at).trim()] = v.slice(at + 1).trim();
  }
  return headers;
}

/** The folder a project's relative paths start from. */
export async function projectDir(projectPath: string): Promise<string> {
  const info = await stat(projectPath).catch(() => undefined);
  return info?.isDirectory() ? resolve(projectPath) : dirname(resolve(projectPath));
}

/**
 * Builds the backend the flags and the project ask for: flags first, then the project's `backend`, else the draft
 * renderer (undefined: the service's default). The ComfyUI backend is checked against every server before the run.
 */
export async function resolveBackend(
  flags: BackendFlags,
  project: Project | undefined,
  baseDir: string | undefined,
  signal: AbortSignal,
): Promise<ImageBackend | undefined> {
  const fromProject = project?.backend;
  const type = flags.backend ?? (flags.comfyui ? 'comfyui' : (fromProject?.type ?? 'draft'));
  if (type === 'draft') {
    if (flags.backend !== 'draft') return undefined;
    const { createDraftBackend } = await import('../backends/draft/index.js');
    return createDraftBackend();
  }
  const servers = flags.comfyui ?? fromProject?.servers;
  const where = (p: string, flag: string): string =>
    flags[flag as keyof BackendFlags] !== undefined || !baseDir ? resolve(p) : resolve(baseDir, p);
  const workflowPath = flags.workflow ?? fromProject?.workflow;
  if (!servers || servers.length === 0 || !workflowPath) {
    const missing = [
      !servers?.length ? '--comfyui <url> (or backend.servers)' : '',
      !workflowPath ? '--workflow <file> (or backend.workflow)' : '',
    ]
      .filter(Boolean)
      .join(' and ');
    throw new ValidationError(`the comfyui backend needs ${missing}`, [
      { path: 'backend', message: `missing ${missing}` },
    ]);
  }
  const workflow = await loadWorkflowFile(where(workflowPath, 'workflow'), signal);
  const panelPath = flags.panelWorkflow ?? fromProject?.panelWorkflow;
  const panelWorkflow = panelPath
    ? await loadWorkflowFile(where(panelPath, 'panelWorkflow'), signal)
    : undefined;
  const { createComfyUiBackend } = await import('../backends/comfyui/index.js');
  return createComfyUiBackend({
    servers,
    workflow,
    ...(panelWorkflow ? { panelWorkflow } : {}),
    headers: parseHeaders(flags.header),
    ...(flags.jobTimeout ? { jobTimeoutMs: flags.jobTimeout * 1000 } : {}),
    ...optionalNumber('queueDepth', flags.queueDepth ?? fromProject?.queueDepth),
    ...optionalNumber(
      'outageTimeoutMs',
      (flags.outageTimeout ?? fromProject?.outageTimeout) === undefined
        ? undefined
        : (flags.outageTimeout ?? fromProject!.outageTimeout!) * 1000,
    ),
    signal,
  });
}

function optionalNumber<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}
