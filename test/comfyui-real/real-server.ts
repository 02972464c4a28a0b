import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Workflow } from '../../src/backends/comfyui/workflow.js';

const run = promisify(execFile);

/** The server under test: `COMFYUI_URL` (CI starts one from ../shared/comfyui; a user points it at their own). */
export function realServerUrl(): string {
  const url = process.env['COMFYUI_URL'];
  if (!url) {
    throw new Error(
      'COMFYUI_URL is not set: these tests run against a real ComfyUI. Start one (../shared/comfyui/start 8188) and run COMFYUI_URL=http://127.0.0.1:8188 npm run test:comfyui',
    );
  }
  return url.replace(/\/+$/, '');
}

/** The start/stop kit for a second, killable server; absent on a user's machine (those tests are then skipped). */
export const KIT = resolve(
  process.env['COMFYUI_KIT'] ?? resolve(import.meta.dirname, '../../../shared/comfyui'),
);
export const hasKit = existsSync(resolve(KIT, 'start'));

export async function startKitServer(port: number): Promise<string> {
  const { stdout } = await run(resolve(KIT, 'start'), [String(port)], { timeout: 600_000 });
  return stdout.trim().split(/\s+/)[0]!;
}

export async function stopKitServer(port: number): Promise<void> {
  await run(resolve(KIT, 'stop'), [String(port)], { timeout: 60_000 });
}

/**
 * A model-free job that takes a few seconds on a CPU ComfyUI: a 512² blur with a wide kernel (ComfyUI convolves it
 * in torch). Tagged so that no two are served from the cache.
 */
export function realSlowWorkflow(tag: string): Workflow {
  let color = 0;
  for (const ch of tag) color = (color * 31 + ch.charCodeAt(0)) & 0xffffff;
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 512, height: 512, batch_size: 1, color } },
    '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 10, sigma: 10 } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `sc-test/${tag}` } },
  };
}

/** Ports for the pool tests' own servers (started and stopped by the tests): `COMFYUI_POOL_PORTS`, comma-separated. */
export function poolPorts(): number[] {
  return (process.env['COMFYUI_POOL_PORTS'] ?? '8191,8192,8193')
    .split(',')
    .map((p) => Number(p.trim()))
    .filter((p) => Number.isInteger(p) && p > 0);
}
