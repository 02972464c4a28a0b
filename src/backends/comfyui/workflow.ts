import { canonicalJson } from '../../core/canonical-json.js';
import { ValidationError, type ValidationIssue } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import type { ObjectInfo } from './object-info.js';
import { inputSpec } from './object-info.js';

/**
 * A user's ComfyUI workflow in API format ("Save (API format)" in ComfyUI): `{"<node id>": {class_type, inputs,
 * _meta}}`, with `{{placeholders}}` in string values that each request fills with typed values.
 */

export interface WorkflowNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string };
}
export type Workflow = Record<string, WorkflowNode>;

export const PLACEHOLDERS = [
  'prompt',
  'negative_prompt',
  'seed',
  'width',
  'height',
  'reference_image',
  'filename_prefix',
  'shot_id',
] as const;
export type PlaceholderName = (typeof PLACEHOLDERS)[number];
export type PlaceholderValues = Record<PlaceholderName, string | number>;

/** Placeholders whose whole-value use becomes a number. */
const NUMERIC = new Set<string>(['seed', 'width', 'height']);
const TOKEN = /\{\{\s*([a-z_]+)\s*\}\}/g;
const WHOLE = /^\{\{\s*([a-z_]+)\s*\}\}$/;

/** The title that marks a workflow's frame when it has several image outputs. */
export const FRAME_TITLE = 'storycore:frame';

/** Checks the shape of a parsed workflow file; `source` names it in messages. */
export function parseWorkflow(value: unknown, source: string): Workflow {
  const fail = (issues: ValidationIssue[]): never => {
    throw new ValidationError(`${source} is not a usable ComfyUI workflow`, issues, {
      details: { workflow: source },
    });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail([{ path: '$', message: 'expected an object of nodes ({"<node id>": {"class_type", "inputs"}})' }]);
  }
  const record = value as Record<string, unknown>;
  if (Array.isArray(record['nodes']) && 'links' in record) {
    fail([
      {
        path: '$',
        message:
          'this is ComfyUI\'s UI format (it has "nodes" and "links"); export the workflow with "Save (API format)" instead',
      },
    ]);
  }
  const issues: ValidationIssue[] = [];
  const ids = Object.keys(record);
  if (ids.length === 0) issues.push({ path: '$', message: 'the workflow has no nodes' });
  for (const id of ids) {
    const node = record[id];
    const path = `$["${id}"]`;
    if (typeof node !== 'object' || node === null || Array.isArray(node)) {
      issues.push({ path, message: 'expected a node object with "class_type" and "inputs"' });
      continue;
    }
    const n = node as Record<string, unknown>;
    if (typeof n['class_type'] !== 'string' || n['class_type'] === '')
      issues.push({ path: `${path}.class_type`, message: 'missing: every node names its class_type' });
    if (typeof n['inputs'] !== 'object' || n['inputs'] === null || Array.isArray(n['inputs']))
      issues.push({ path: `${path}.inputs`, message: 'expected an object of inputs' });
  }
  for (const use of placeholderUses(record as Workflow)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(use.name)) {
      issues.push({
        path: `$["${use.nodeId}"].inputs.${use.input}`,
        message: `unknown placeholder {{${use.name}}}; known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`,
      });
    }
  }
  if (issues.length > 0) fail(issues);
  return record as Workflow;
}

export interface PlaceholderUse {
  nodeId: string;
  input: string;
  name: string;
  /** The whole value is the placeholder (so a numeric one becomes a number). */
  whole: boolean;
}

export function placeholderUses(workflow: Workflow): PlaceholderUse[] {
  const uses: PlaceholderUse[] = [];
  for (const [nodeId, node] of Object.entries(workflow)) {
    for (const [input, value] of Object.entries(node.inputs ?? {})) {
      if (typeof value !== 'string') continue;
      const whole = WHOLE.exec(value);
      for (const match of value.matchAll(TOKEN)) {
        uses.push({ nodeId, input, name: match[1]!, whole: whole !== null });
      }
    }
  }
  return uses;
}

export function usesPlaceholder(workflow: Workflow, name: PlaceholderName): boolean {
  return placeholderUses(workflow).some((u) => u.name === name);
}

/** sha256 of the workflow's canonical JSON: part of every generate step's input hash. */
export function workflowHash(workflow: Workflow): string {
  return sha256Hex(Buffer.from(canonicalJson(workflow)));
}

/**
 * A copy of the workflow with every placeholder replaced. A whole-value numeric placeholder becomes a number; a seed
 * on an INT input whose range is narrower than our 53-bit seeds (an `EmptyImage` colour, a 32-bit noise seed) is
 * folded into that range, so every input gets a valid value and different seeds stay different where the range allows.
 * Every `filename_prefix` that does not use `{{filename_prefix}}` is prefixed with it, so no output of one run and shot
 * collides with another's on a shared server.
 */
export function fillWorkflow(workflow: Workflow, values: PlaceholderValues, info?: ObjectInfo): Workflow {
  const filled: Workflow = {};
  for (const [nodeId, node] of Object.entries(workflow)) {
    const inputs: Record<string, unknown> = {};
    for (const [input, value] of Object.entries(node.inputs)) {
      inputs[input] = fillValue(
        value,
        values,
        info?.[node.class_type] ? inputSpec(info[node.class_type]!, input) : undefined,
      );
      if (
        input === 'filename_prefix' &&
        typeof value === 'string' &&
        !/\{\{\s*filename_prefix\s*\}\}/.test(value)
      ) {
        inputs[input] = `${values.filename_prefix}_${String(inputs[input])}`;
      }
    }
    filled[nodeId] = { ...node, inputs };
  }
  return filled;
}

function fillValue(
  value: unknown,
  values: PlaceholderValues,
  spec: ReturnType<typeof inputSpec> | undefined,
): unknown {
  if (typeof value !== 'string') return value;
  const whole = WHOLE.exec(value);
  if (whole && NUMERIC.has(whole[1]!)) {
    const n = Number(values[whole[1] as PlaceholderName]);
    if (whole[1] === 'seed' && spec?.type === 'INT' && spec.max !== undefined) {
      const min = spec.min ?? 0;
      const span = spec.max - min + 1;
      return n >= min && n <= spec.max ? n : min + ((((n - min) % span) + span) % span);
    }
    return n;
  }
  return value.replace(TOKEN, (_, name: string) => String(values[name as PlaceholderName] ?? ''));
}

/** Node ids of the workflow's output nodes (`output_node: true` in the server's object_info). */
export function outputNodes(workflow: Workflow, info: ObjectInfo): string[] {
  return Object.entries(workflow)
    .filter(([, node]) => info[node.class_type]?.output_node === true)
    .map(([id]) => id);
}

/**
 * Which output node gives the frame: the node titled `storycore:frame`, else the single output node that takes an
 * IMAGE. Throws a ValidationError naming the candidates when that is ambiguous or there is none.
 */
export function findFrameNode(workflow: Workflow, info: ObjectInfo, source: string): string {
  const titled = Object.entries(workflow).filter(
    ([, n]) => n._meta?.title?.trim().toLowerCase() === FRAME_TITLE,
  );
  if (titled.length === 1) return titled[0]![0];
  if (titled.length > 1) {
    throw new ValidationError(
      `${source}: ${titled.length} nodes are titled "${FRAME_TITLE}" (${titled.map(([id]) => id).join(', ')}); keep one`,
      [{ path: '$', message: `several nodes titled "${FRAME_TITLE}"` }],
    );
  }
  const imageOutputs = outputNodes(workflow, info).filter((id) => {
    const node = workflow[id]!;
    const spec = info[node.class_type];
    return Object.keys(node.inputs).some((name) => spec && inputSpec(spec, name)?.type === 'IMAGE');
  });
  if (imageOutputs.length === 1) return imageOutputs[0]!;
  const message =
    imageOutputs.length === 0
      ? 'the workflow has no image output node (SaveImage or PreviewImage)'
      : `the workflow has ${imageOutputs.length} image outputs (nodes ${imageOutputs.join(', ')}); title the one that is the frame "${FRAME_TITLE}" (node Properties → Title)`;
  throw new ValidationError(`${source}: ${message}`, [{ path: '$', message }]);
}
