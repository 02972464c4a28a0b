import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One input's spec as ComfyUI publishes it: `["INT", {min, max}]`, `[["a", "b"], {}]`, `["COMBO", {options}]`. */
export type InputSpec = [unknown, Record<string, unknown>?];

export interface NodeInfo {
  input: { required?: Record<string, InputSpec>; optional?: Record<string, InputSpec> };
  output: string[];
  output_node: boolean;
  [key: string]: unknown;
}

export type ObjectInfo = Record<string, NodeInfo>;

const FIXTURE = fileURLToPath(new URL('../../fixtures/comfyui/object_info-0.3.64.json', import.meta.url));

/**
 * Which model folder fills which loader input. Names are ComfyUI's `folder_paths` keys (the real server lists
 * `models/<folder>/` there); `unet` and `clip` are its legacy aliases, accepted too.
 */
const MODEL_INPUTS: Record<string, Record<string, string[]>> = {
  CheckpointLoaderSimple: { ckpt_name: ['checkpoints'] },
  VAELoader: { vae_name: ['vae'] },
  UNETLoader: { unet_name: ['diffusion_models', 'unet'] },
  CLIPLoader: { clip_name: ['text_encoders', 'clip'] },
  DualCLIPLoader: { clip_name1: ['text_encoders', 'clip'], clip_name2: ['text_encoders', 'clip'] },
  CLIPVisionLoader: { clip_name: ['clip_vision'] },
  StyleModelLoader: { style_model_name: ['style_models'] },
  LoraLoader: { lora_name: ['loras'] },
};

let captured: ObjectInfo | undefined;

/** The real 0.3.64 answer, captured once for the classes the double supports (read once per process). */
function capturedObjectInfo(): ObjectInfo {
  captured ??= JSON.parse(readFileSync(FIXTURE, 'utf8')) as ObjectInfo;
  return captured;
}

/** Class names the double can validate and run. */
export function supportedClasses(): string[] {
  return Object.keys(capturedObjectInfo());
}

/**
 * The `/object_info` this double serves: the captured answer with each loader's enum list holding the real server's
 * built-ins (e.g. VAELoader's `pixel_space`) followed by `models`, and LoadImage's list holding the uploaded files,
 * sorted as ComfyUI sorts them.
 */
export function buildObjectInfo(models: Record<string, string[]>, inputFiles: Iterable<string>): ObjectInfo {
  const info = structuredClone(capturedObjectInfo());
  for (const [cls, inputs] of Object.entries(MODEL_INPUTS)) {
    const node = info[cls];
    if (!node) continue;
    for (const [inputName, folders] of Object.entries(inputs)) {
      const spec = node.input.required?.[inputName];
      if (!spec || !Array.isArray(spec[0])) continue;
      const files = folders.flatMap((f) => models[f] ?? []);
      spec[0] = [...new Set([...files, ...(spec[0] as string[])])];
    }
  }
  const loadImage = info['LoadImage']?.input.required?.['image'];
  if (loadImage) loadImage[0] = [...inputFiles].sort();
  return info;
}
