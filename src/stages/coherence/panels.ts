import { throwIfAborted } from '../../core/abort.js';
import { derivePanelSeed } from '../../core/seeds.js';
import { resolveGlobalSeed } from '../../project/seeds.js';
import { ValidationError } from '../../core/errors.js';
import type { GenerationProgress, GenerationRequest, ImageBackend } from '../../backends/types.js';
import type { Raster } from '../../image/raster.js';
import type { Project } from '../../project/schema.js';
import { paletteForStyle } from './style-palette.js';
import type { SheetPanel } from './types.js';

/** Panels in a coherence sheet: a 3x3 grid. */
export const PANEL_COUNT = 9;

/** One panel to render: its prompt and the framing hint the draft renderer composes from. */
export interface PanelSpec {
  prompt: string;
  camera?: string;
}

/**
 * Studies a concept artist would put on a style sheet: the world, the characters, the light, the props, the
 * shapes and the colour script, all in the one style, so the sheet pins the look before any shot is drawn.
 */
const STUDIES: readonly PanelSpec[] = [
  { prompt: 'establishing view of the world and its setting', camera: 'establishing extreme wide' },
  { prompt: 'character study, full figure, neutral pose', camera: 'wide full shot' },
  { prompt: 'character close-up portrait, expression study', camera: 'close-up' },
  { prompt: 'environment study of the key location', camera: 'wide' },
  { prompt: 'lighting study: key light, shadows and atmosphere', camera: 'medium' },
  { prompt: 'props and textures study, material detail', camera: 'extreme close-up' },
  { prompt: 'silhouette and shape-language study, two figures', camera: 'medium wide' },
  { prompt: 'colour script: the palette across day, dusk and night', camera: 'wide' },
  { prompt: 'mood study: weather and atmosphere over the setting', camera: 'high angle wide' },
];

/**
 * The nine panels: the project's own `coherence.panels` when given, otherwise nine style studies. Derived panels
 * depend on the style alone, never on shot prompts: the sheet is the look lock every frame is drawn toward and
 * measured against, so editing, adding or reordering a shot must not change it (and with it every other frame).
 * A project that wants key shots on its sheet lists them in `coherence.panels`. Every prompt carries the style
 * prompt: the style is what the sheet exists to fix.
 */
export function derivePanelSpecs(project: Project): PanelSpec[] {
  const style = project.style.prompt;
  const withStyle = (text: string): string => `${style}, ${text}`;
  if (project.coherence?.panels) return project.coherence.panels.map((p) => ({ prompt: withStyle(p) }));
  return STUDIES.map((s): PanelSpec => ({ ...s, prompt: withStyle(s.prompt) }));
}

/** The nine panel prompts (see derivePanelSpecs). */
export function derivePanelPrompts(project: Project): string[] {
  return derivePanelSpecs(project).map((s) => s.prompt);
}

export interface RenderPanelOptions {
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
  /** Side of a square panel in pixels. @default 512 */
  panelSize?: number;
}

export interface RenderedPanel {
  panel: SheetPanel;
  raster: Raster;
  /** The backend's metadata for this panel (backend name, seed, draft flag…), for the journal. */
  metadata: Record<string, unknown>;
}

/** The request for panel `index`: what the step's input hash is computed from. */
export function panelRequest(project: Project, index: number, panelSize = 512): GenerationRequest {
  if (!Number.isInteger(index) || index < 0 || index >= PANEL_COUNT) {
    throw new ValidationError(`panel index must be an integer from 0 to ${PANEL_COUNT - 1}, got ${index}`, [
      { path: 'index', message: 'out of range' },
    ]);
  }
  const spec = derivePanelSpecs(project)[index]!;
  const request: GenerationRequest = {
    prompt: spec.prompt,
    width: panelSize,
    height: panelSize,
    seed: derivePanelSeed(resolveGlobalSeed(project), index),
    purpose: 'sheet-panel',
    shotNumber: index + 1,
    label: `panel-${index + 1}`,
    // Backends that understand palettes (the draft renderer) paint every panel from the style's colours.
    palette: paletteForStyle(project.style.prompt),
  };
  if (spec.camera !== undefined) request.camera = spec.camera;
  if (project.style.negativePrompt !== undefined) request.negativePrompt = project.style.negativePrompt;
  return request;
}

/** Renders one sheet panel: a step of its own, so an orchestrator can journal and reuse it. */
export async function renderSheetPanel(
  project: Project,
  backend: ImageBackend,
  index: number,
  options: RenderPanelOptions = {},
): Promise<RenderedPanel> {
  throwIfAborted(options.signal);
  const request = panelRequest(project, index, options.panelSize ?? 512);
  const generateOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  const image = await backend.generate(request, generateOptions);
  const { raster } = image;
  if (raster.width !== request.width || raster.height !== request.height) {
    throw new ValidationError(
      `backend "${backend.name}" returned a ${raster.width}x${raster.height} image for sheet panel ${index + 1}, expected ${request.width}x${request.height}`,
      [{ path: `panels[${index}]`, message: 'wrong size' }],
    );
  }
  return {
    panel: { index, prompt: request.prompt, seed: request.seed },
    raster,
    metadata: { ...image.metadata },
  };
}
