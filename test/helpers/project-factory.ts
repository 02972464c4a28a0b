import { projectSchema, type Project, type ProjectInput } from '../../src/project/schema.js';

export interface TestProjectOptions {
  /** @default 'test-sequence' */
  id?: string;
  /** @default 6 */
  shots?: number;
  /** Small frames keep pipeline tests fast on a 2-core machine. @default 320 */
  width?: number;
  /** @default 180 */
  height?: number;
  /** @default a teal-and-amber painterly style */
  stylePrompt?: string;
  globalSeed?: number;
  /** The sheet's own nine panel prompts (`coherence.panels`); derived from the style when absent. */
  panels?: readonly string[];
}

const CAMERAS = [
  'aerial establishing shot',
  'medium shot, eye level',
  'extreme close-up',
  'low angle looking up',
  'over-the-shoulder shot',
  'high angle looking down',
  'wide shot, dutch angle',
  'close-up on the hands',
] as const;

const ACTIONS = [
  'A lone lighthouse stands on a basalt headland as a storm rolls in',
  'The keeper writes in a leather logbook beside a brass barometer',
  'The barometer needle swings hard toward storm',
  'The great Fresnel lens goes dark in the lantern room',
  'A small fishing boat pitches toward the rocks below',
  'The keeper climbs the iron spiral staircase with a lantern',
  'On the gallery walkway the keeper braces against the gale',
  'Weathered hands strike a match inside the lamp housing',
] as const;

/** Shot id of the n-th shot (1-based): `shot-01`, `shot-02`, … */
export function shotId(n: number): string {
  return `shot-${String(n).padStart(2, '0')}`;
}

/** A valid project as written on disk, with N distinct shots (prompt, camera). */
export function makeProjectInput(options: TestProjectOptions = {}): ProjectInput {
  const count = options.shots ?? 6;
  return {
    schemaVersion: 1,
    id: options.id ?? 'test-sequence',
    name: 'Test sequence',
    ...(options.globalSeed === undefined ? {} : { globalSeed: options.globalSeed }),
    style: {
      prompt:
        options.stylePrompt ?? 'moody cinematic illustration, deep teal and amber palette, volumetric light',
      negativePrompt: 'text, watermark',
    },
    output: { width: options.width ?? 320, height: options.height ?? 180 },
    ...(options.panels === undefined ? {} : { coherence: { panels: [...options.panels] } }),
    shots: Array.from({ length: count }, (_, i) => ({
      id: shotId(i + 1),
      prompt: `${ACTIONS[i % ACTIONS.length]!} (beat ${i + 1})`,
      camera: CAMERAS[i % CAMERAS.length]!,
      mood: 'tense',
    })),
  };
}

/** The same project, validated (defaults applied), as the orchestrator takes it. */
export function makeProject(options: TestProjectOptions = {}): Project {
  return projectSchema.parse(makeProjectInput(options));
}

/** A copy of `project` with one shot's prompt replaced. */
export function withShotPrompt(project: Project, id: string, prompt: string): Project {
  if (!project.shots.some((s) => s.id === id)) throw new Error(`no shot ${id} in project ${project.id}`);
  return projectSchema.parse({
    ...project,
    shots: project.shots.map((s) => (s.id === id ? { ...s, prompt } : s)),
  });
}

/** A copy of `project` where one shot pins its own seed. */
export function withShotSeed(project: Project, id: string, seed: number): Project {
  if (!project.shots.some((s) => s.id === id)) throw new Error(`no shot ${id} in project ${project.id}`);
  return projectSchema.parse({
    ...project,
    shots: project.shots.map((s) => (s.id === id ? { ...s, seed } : s)),
  });
}

/** A copy of `project` with another style prompt. */
export function withStylePrompt(project: Project, prompt: string): Project {
  return projectSchema.parse({ ...project, style: { ...project.style, prompt } });
}

/** A copy of `project` whose sheet panel `n` (1-based, of `coherence.panels`) has another prompt. */
export function withPanelPrompt(project: Project, n: number, prompt: string): Project {
  const panels = project.coherence?.panels;
  if (!panels || n < 1 || n > panels.length)
    throw new Error(`project ${project.id} has no coherence panel ${n}`);
  return projectSchema.parse({
    ...project,
    coherence: { panels: panels.map((p, i) => (i === n - 1 ? prompt : p)) },
  });
}
