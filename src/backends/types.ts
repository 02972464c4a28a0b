import type { Raster } from '../image/raster.js';

/** Why an image is requested: backends may route or tag differently, the draft renderer draws differently. */
export type GenerationPurpose = 'sheet-panel' | 'shot' | 'regenerate';

export interface ReferenceImage {
  /** PNG bytes of the reference (the master coherence sheet). */
  png: Buffer;
  /** sha256 of `png`, hex: lets a backend upload once and reuse. */
  sha256: string;
}

export interface GenerationRequest {
  prompt: string;
  negativePrompt?: string;
  width: number;
  height: number;
  seed: number;
  purpose: GenerationPurpose;
  /** Free-form hints the draft renderer uses for composition: shot camera, index for captions. */
  camera?: string;
  /** 1-based number shown on storyboard drafts; the shot's position in the project. */
  shotNumber?: number;
  /** Shot id or panel id, for logs and captions. */
  label?: string;
  /**
   * What a storyboard draft prints under the frame (the shot's own prompt, without the style that every shot shares).
   * Backends that generate real images ignore it. @default prompt
   */
  caption?: string;
  /** Palette to honour (hex colours), from the style or the sheet's visual DNA. */
  palette?: readonly string[];
  reference?: ReferenceImage;
}

export interface GenerationProgress {
  /** Fraction of this request done, 0–1. */
  fraction: number;
  /** e.g. "sampling 12/30" */
  message?: string;
}

/** A live preview of a request in progress (ComfyUI's sampler previews), for a UI to show. */
export interface GenerationPreview {
  format: 'jpeg' | 'png' | 'webp' | 'unknown';
  bytes: Buffer;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  onProgress?: (progress: GenerationProgress) => void;
  /** Live previews while the image is made, when the backend has them. */
  onPreview?: (preview: GenerationPreview) => void;
}

export interface GeneratedImage {
  raster: Raster;
  metadata: {
    backend: string;
    /** True for storyboard drafts from the embedded renderer: never to be confused with AI images. */
    draft: boolean;
    seed: number;
    /** Backend-specific facts (ComfyUI server, prompt id, workflow hash…). */
    [key: string]: unknown;
  };
}

/** One server of a backend that has several (a ComfyUI pool), as the progress view shows it. */
export interface ServerStatus {
  /** Base URL. */
  server: string;
  /** Short name for messages (host:port). */
  name: string;
  /** up: takes jobs; down: unreachable, probed and re-admitted when healthy; excluded: unusable for this run. */
  state: 'up' | 'down' | 'excluded';
  /** Our jobs on it now. */
  inFlight: number;
  /** Other users' jobs queued or running on it. */
  othersQueued: number;
  version?: string;
  /** Why it is down or excluded. */
  reason?: string;
}

/** A change in a backend's servers: a snapshot of all of them and, when something happened, one line saying what. */
export interface BackendStatus {
  servers: ServerStatus[];
  /** e.g. "gpu2:8188 unreachable (…): its 2 shots moved to gpu1:8188 and gpu3:8188" — said once. */
  message?: string;
}

/** What every image backend implements; the pipeline knows only this. */
export interface ImageBackend {
  /** Stable name written into manifests ("draft", "comfyui"). */
  readonly name: string;
  /** Version string of the backend (renderer version, ComfyUI version), part of step input hashes. */
  readonly version: string;
  /** How many requests it can usefully run at once. */
  readonly capacity: number;
  /** Whether asking again with another seed can produce a different image (used by QA regenerate). */
  readonly canRegenerate: boolean;
  /**
   * What else a request's result depends on, per purpose (the ComfyUI workflow's hash used for shots, another for
   * sheet panels), so editing one workflow reruns only the steps that used it. Part of step input hashes.
   */
  fingerprint?(purpose: GenerationPurpose): string;
  generate(request: GenerationRequest, options?: GenerateOptions): Promise<GeneratedImage>;
  /**
   * Subscribes to the state of the backend's servers (backends with several: the ComfyUI pool); the listener hears
   * the current state at once. Returns the unsubscribe function.
   */
  onStatus?(listener: (status: BackendStatus) => void): () => void;
  close?(): Promise<void>;
}
