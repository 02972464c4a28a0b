/**
 * The server's `/object_info`: which node classes it has and what inputs they take. An input spec is
 * `[type, options]`, where type is "INT", "FLOAT", "STRING", "BOOLEAN", a data type such as "IMAGE", a list of allowed
 * values (model file names, sampler names), or — in newer builds — "COMBO" with the list in `options.options`.
 */

export interface NodeClassInfo {
  input?: {
    required?: Record<string, unknown>;
    optional?: Record<string, unknown>;
    hidden?: Record<string, unknown>;
  };
  output?: unknown[];
  output_node?: boolean;
  display_name?: string;
  category?: string;
}
export type ObjectInfo = Record<string, NodeClassInfo>;

export interface InputSpec {
  /** "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO" (a list of allowed values), or a link type ("IMAGE", "MODEL"…). */
  type: string;
  required: boolean;
  options?: string[];
  min?: number;
  max?: number;
}

export const SCALAR_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);

function specFrom(raw: unknown, required: boolean): InputSpec | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  const [type, opts] = raw as [unknown, unknown];
  const o = typeof opts === 'object' && opts !== null ? (opts as Record<string, unknown>) : {};
  const num = (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  if (Array.isArray(type)) return { type: 'COMBO', required, options: type.map(String) };
  if (type === 'COMBO') {
    const list = Array.isArray(o['options']) ? (o['options'] as unknown[]).map(String) : [];
    return { type: 'COMBO', required, options: list };
  }
  if (typeof type !== 'string') return undefined;
  const spec: InputSpec = { type, required };
  const min = num(o['min']);
  const max = num(o['max']);
  if (min !== undefined) spec.min = min;
  if (max !== undefined) spec.max = max;
  return spec;
}

/** The spec of one input of a node class, required or optional; undefined when the class has no such input. */
export function inputSpec(info: NodeClassInfo, name: string): InputSpec | undefined {
  const required = info.input?.required?.[name];
  if (required !== undefined) return specFrom(required, true);
  const optional = info.input?.optional?.[name];
  if (optional !== undefined) return specFrom(optional, false);
  return undefined;
}

export function requiredInputs(info: NodeClassInfo): string[] {
  return Object.keys(info.input?.required ?? {});
}

/** Loader inputs whose allowed values are model files: named as such in messages. */
export function isModelInput(name: string): boolean {
  return (
    /(_name|^model|^unet|^clip|^vae|^lora|^ckpt|^style_model|^control_net|^upscale_model)/.test(name) &&
    name !== 'sampler_name'
  );
}
