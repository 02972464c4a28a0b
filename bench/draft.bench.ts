import { createDraftBackend } from '../src/backends/index.js';
import type { GenerationRequest } from '../src/backends/types.js';
import { projectSchema } from '../src/project/schema.js';
import { buildCoherenceSheet } from '../src/stages/coherence/index.js';
import { timeRuns } from './timing.js';
import type { BenchRow } from './types.js';

/** Per-frame budget for a 1920x1080 draft on a laptop-class machine. */
const FRAME_TARGET_MS = 150;

/** Draft renderer speed: ms per 1920x1080 frame and ms per 1600 px coherence sheet (medians after a warm-up). */
export async function benchDraft(
  options: { frameRuns?: number; sheetRuns?: number } = {},
): Promise<BenchRow[]> {
  const backend = createDraftBackend();
  const request = (i: number): GenerationRequest => ({
    prompt:
      'A detective waits under a flickering streetlight in a rain-soaked city street at night, neon reflections',
    width: 1920,
    height: 1080,
    seed: 1000 + i,
    purpose: 'shot',
    camera: ['wide establishing', 'medium', 'close-up', 'over-the-shoulder', 'aerial'][Math.abs(i) % 5]!,
    shotNumber: 1,
  });
  const frame = (await timeRuns(options.frameRuns ?? 7, (i) => backend.generate(request(i)))).median;
  const project = projectSchema.parse({
    schemaVersion: 1,
    id: 'bench',
    name: 'bench',
    style: { prompt: 'moody noir with teal and amber accents' },
    shots: [{ id: 's1', prompt: 'A lighthouse on a cliff at dusk, storm coming', camera: 'wide' }],
  });
  const sheet = (await timeRuns(options.sheetRuns ?? 5, () => buildCoherenceSheet(project, backend))).median;
  return [
    {
      group: 'draft',
      name: 'draft frame 1920x1080',
      value: Math.round(frame * 10) / 10,
      unit: 'ms',
      note: `target < ${FRAME_TARGET_MS} ms: ${frame < FRAME_TARGET_MS ? 'met' : 'missed'}`,
    },
    {
      group: 'draft',
      name: `coherence sheet 1600x1600 (9 panels, capacity ${backend.capacity})`,
      value: Math.round(sheet * 10) / 10,
      unit: 'ms',
    },
  ];
}
