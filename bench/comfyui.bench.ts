import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { ComfyUiClient } from '../src/backends/comfyui/index.js';
import type { Workflow } from '../src/backends/comfyui/workflow.js';
import { median } from './timing.js';
import type { BenchRow } from './types.js';

/**
 * Per-job overhead of our ComfyUI client against a bare loop on the same server, interleaved job by job so both
 * see the same machine: POST /prompt, wait for `executing {node: null}` of that prompt on the socket, GET
 * /history. The client does more per job (socket readiness, id routing, a watchdog, progress) and must cost ≤ 1.1×.
 * Runs against COMFYUI_URL (a real ComfyUI); skipped without one.
 */

const JOBS = Number(process.env['BENCH_COMFYUI_JOBS'] ?? 60);
const WARMUP_JOBS = 5;

function trivial(tag: string, i: number): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: i & 0xffffff } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: `sc-bench/${tag}` } },
  };
}

function p95(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]!;
}

/** The bare loop: one socket, no routing beyond a map of waiters, no polling. */
async function bareLoop(
  url: string,
  deflate: boolean,
): Promise<{ run: (wf: Workflow) => Promise<void>; close: () => void }> {
  const clientId = randomUUID();
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws?clientId=${clientId}`, {
    perMessageDeflate: deflate,
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const waiters = new Map<string, () => void>();
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(String(data)) as { type: string; data: { node?: unknown; prompt_id?: string } };
    if (m.type === 'executing' && m.data.node === null && m.data.prompt_id) waiters.get(m.data.prompt_id)?.();
  });
  return {
    run: async (wf) => {
      const promptId = randomUUID();
      const done = new Promise<void>((resolve) => waiters.set(promptId, resolve));
      const r = await fetch(`${url}/prompt`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: wf, client_id: clientId, prompt_id: promptId }),
      });
      await r.json();
      await done;
      waiters.delete(promptId);
      const h = (await (await fetch(`${url}/history/${promptId}`)).json()) as Record<string, unknown>;
      if (!h[promptId]) throw new Error('bare loop: no history');
    },
    close: () => ws.close(),
  };
}

export async function benchComfyUi(): Promise<BenchRow[]> {
  const group = 'comfyui client (trivial jobs, real server)';
  const url = process.env['COMFYUI_URL']?.replace(/\/+$/, '');
  if (!url)
    return [{ group, name: 'skipped', value: 0, unit: '', note: 'set COMFYUI_URL to a running ComfyUI' }];
  // Two bare loops: ws's defaults (permessage-deflate on, as a naive client has it) and without compression (what our
  // client does), so the table shows both what a user gains and what our bookkeeping itself costs.
  const bare = await bareLoop(url, true);
  const plain = await bareLoop(url, false);
  const client = new ComfyUiClient(url);
  const tag = randomUUID().slice(0, 8);
  const times: Record<'bare' | 'plain' | 'ours', number[]> = { bare: [], plain: [], ours: [] };
  const sides = ['bare', 'plain', 'ours'] as const;
  try {
    for (let i = -WARMUP_JOBS; i < JOBS; i++) {
      // Rotate which goes first, so none always follows another's cache effects.
      for (let k = 0; k < sides.length; k++) {
        const who = sides[(i + 3 * WARMUP_JOBS + k) % sides.length]!;
        const wf = trivial(`${tag}-${who}-${i}`, (i + 100) * 3 + k);
        const t = performance.now();
        if (who === 'bare') await bare.run(wf);
        else if (who === 'plain') await plain.run(wf);
        else await client.run(wf);
        if (i >= 0) times[who].push(performance.now() - t);
      }
    }
  } finally {
    bare.close();
    plain.close();
    await client.close();
  }
  const row = (name: string, v: number[], note = ''): BenchRow => ({
    group,
    name,
    value: median(v),
    unit: 'ms',
    note: `p95 ${p95(v).toFixed(1)} ms, ${JOBS} jobs${note}`,
  });
  const ratio = median(times.ours) / median(times.bare);
  const ratioPlain = median(times.ours) / median(times.plain);
  return [
    row('bare loop (ws defaults: permessage-deflate): median', times.bare),
    row('bare loop without compression: median', times.plain),
    row('ComfyUiClient.run: median', times.ours, ', interleaved'),
    {
      group,
      name: 'client / bare loop, medians (target ≤ 1.1×)',
      value: ratio,
      unit: '×',
      note: `target ≤ 1.1×: ${ratio <= 1.1 ? 'met' : 'missed'}; p95 ratio ${(p95(times.ours) / p95(times.bare)).toFixed(2)}×`,
    },
    {
      group,
      name: 'client / bare loop without compression, medians',
      value: ratioPlain,
      unit: '×',
      note: `our bookkeeping alone; p95 ratio ${(p95(times.ours) / p95(times.plain)).toFixed(2)}×`,
    },
  ];
}
