import { errorMessage, isStoryCoreError, type ValidationIssue } from '../../core/errors.js';
import { ComfyUiClient, type ComfyUiClientOptions } from './client.js';
import { validateWorkflow } from './validate-workflow.js';
import { findFrameNode, type Workflow } from './workflow.js';

/** What `storycore comfyui check` reports about one server. */
export interface ServerCheck {
  url: string;
  reachable: boolean;
  /** Why it is unreachable or unusable. */
  error?: string;
  version?: string;
  devices?: Array<{ name: string; type: string; vramTotal?: number; vramFree?: number }>;
  queue?: { running: number; pending: number };
  /** One entry per workflow checked. */
  workflows: Array<{
    source: string;
    valid: boolean;
    issues: ValidationIssue[];
    /** Node whose image is the frame, when the workflow says. */
    frameNode?: string;
  }>;
  /** Reachable and (when a workflow was given) the workflow validates. */
  usable: boolean;
}

export interface CheckOptions extends Omit<ComfyUiClientOptions, 'clientId'> {
  workflows?: Array<{ workflow: Workflow; source: string }>;
  signal?: AbortSignal;
}

/** Probes one server: `/system_stats`, `/queue`, `/object_info`, and validates the workflows against it. */
export async function checkComfyUiServer(url: string, options: CheckOptions = {}): Promise<ServerCheck> {
  let client: ComfyUiClient;
  try {
    client = new ComfyUiClient(url, { requestTimeoutMs: 10_000, ...options });
  } catch (error) {
    return { url, reachable: false, error: errorMessage(error), usable: false, workflows: [] };
  }
  const report: ServerCheck = { url: client.url, reachable: false, usable: false, workflows: [] };
  try {
    const stats = await client.systemStats(options.signal);
    report.reachable = true;
    report.version = stats.system?.comfyui_version ?? 'unknown';
    report.devices = (stats.devices ?? []).map((d) => ({
      name: String(d.name ?? '?'),
      type: String(d.type ?? '?'),
      ...(typeof d.vram_total === 'number' ? { vramTotal: d.vram_total } : {}),
      ...(typeof d.vram_free === 'number' ? { vramFree: d.vram_free } : {}),
    }));
    const queue = await client.queue(options.signal);
    report.queue = { running: queue.running.length, pending: queue.pending.length };
    let usable = true;
    for (const wf of options.workflows ?? []) {
      const info = await client.objectInfo(options.signal);
      const issues = validateWorkflow(wf.workflow, info);
      let frameNode: string | undefined;
      try {
        frameNode = findFrameNode(wf.workflow, info, wf.source);
      } catch (error) {
        issues.push({ path: '$', message: errorMessage(error) });
      }
      report.workflows.push({
        source: wf.source,
        valid: issues.length === 0,
        issues,
        ...(frameNode ? { frameNode } : {}),
      });
      if (issues.length > 0) usable = false;
    }
    report.usable = usable;
  } catch (error) {
    report.error = isStoryCoreError(error) ? error.message : errorMessage(error);
    // An HTTP answer (401 from a proxy, 404 from something that is not ComfyUI) means the host was reached.
    if (
      typeof (error as { status?: unknown }).status === 'number' ||
      (isStoryCoreError(error) && error.code === 'not-found')
    )
      report.reachable = true;
  } finally {
    await client.close();
  }
  return report;
}
