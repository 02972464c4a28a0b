/**
 * ComfyUI's `validate_prompt` (execution.py, 0.3.64) re-stated: the same walk from every output node, the same error
 * types, messages and `details` strings, the same 200-with-node_errors when at least one output validates. Checked
 * against a real 0.3.64 by the protocol suite (test/comfyui/protocol-suite.ts).
 */
import type { InputSpec, ObjectInfo } from './object-info.js';

export type Workflow = Record<
  string,
  { class_type?: unknown; inputs?: Record<string, unknown> } & Record<string, unknown>
>;

export interface ErrorItem {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}
export interface NodeError {
  errors: ErrorItem[];
  dependent_outputs: string[];
  class_type: string;
}
export type ValidationResult =
  | { ok: true; outputs: string[]; nodeErrors: Record<string, NodeError> }
  | { ok: false; error: ErrorItem; nodeErrors: Record<string, NodeError> };

/** Inputs with a custom `VALIDATE_INPUTS` in ComfyUI: their list/range checks are replaced by the custom check. */
type CustomCheck = (value: unknown) => string | true;

export interface ValidationContext {
  info: ObjectInfo;
  /** Whether an input file exists (for LoadImage), as `folder_paths.exists_annotated_filepath` decides. */
  inputFileExists(name: string): boolean;
}

const err = (
  type: string,
  message: string,
  details = '',
  extra_info: Record<string, unknown> = {},
): ErrorItem => ({
  type,
  message,
  details,
  extra_info,
});

/** Python's `str()` of a list of strings, as it appears in ComfyUI's messages: `['a', 'b']`. */
export function pyList(values: readonly unknown[]): string {
  return `[${values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')}]`;
}

/** Python's `int()` / `float()` on a JSON value, with its error messages; undefined result means "leave as is". */
function convert(type: string, value: unknown): { value: unknown } | { error: string } {
  if (type === 'INT' || type === 'FLOAT') {
    if (typeof value === 'number') return { value: type === 'INT' ? Math.trunc(value) : value };
    if (typeof value === 'boolean') return { value: value ? 1 : 0 };
    if (typeof value === 'string') {
      const trimmed = value.trim();
      const ok =
        type === 'INT' ? /^[+-]?\d+$/.test(trimmed) : trimmed !== '' && Number.isFinite(Number(trimmed));
      if (ok) return { value: Number(trimmed) };
      return {
        error:
          type === 'INT'
            ? `invalid literal for int() with base 10: '${value}'`
            : `could not convert string to float: '${value}'`,
      };
    }
    const pyType = value === null ? 'NoneType' : 'dict';
    return {
      error:
        type === 'INT'
          ? `int() argument must be a string, a bytes-like object or a real number, not '${pyType}'`
          : `float() argument must be a string or a real number, not '${pyType}'`,
    };
  }
  if (type === 'STRING') return { value: typeof value === 'string' ? value : JSON.stringify(value) };
  if (type === 'BOOLEAN') return { value: Boolean(value) };
  return { value };
}

/** ComfyUI's `validate_node_input`: `*` matches anything, a comma list is a union, else names must be equal. */
function typesMatch(received: string, wanted: string): boolean {
  if (received === '*' || wanted === '*' || received === wanted) return true;
  const r = received.split(','),
    w = wanted.split(',');
  return r.length > 1 || w.length > 1 ? r.every((t) => w.includes(t)) : false;
}

/** Validate a workflow exactly as ComfyUI's POST /prompt does; converts INT/FLOAT values in place like it. */
export function validatePrompt(prompt: Workflow, ctx: ValidationContext): ValidationResult {
  for (const [id, node] of Object.entries(prompt)) {
    const cls = typeof node === 'object' && node !== null ? node.class_type : undefined;
    if (cls === undefined) {
      const e = err(
        'invalid_prompt',
        'Cannot execute because a node is missing the class_type property.',
        `Node ID '#${id}'`,
      );
      return { ok: false, error: e, nodeErrors: {} };
    }
    if (typeof cls !== 'string' || !ctx.info[cls]) {
      const e = err(
        'invalid_prompt',
        `Cannot execute because node ${String(cls)} does not exist.`,
        `Node ID '#${id}'`,
      );
      return { ok: false, error: e, nodeErrors: {} };
    }
  }
  const outputs = Object.keys(prompt).filter((id) => ctx.info[prompt[id]!.class_type as string]!.output_node);
  if (outputs.length === 0) {
    return { ok: false, error: err('prompt_no_outputs', 'Prompt has no outputs'), nodeErrors: {} };
  }

  const customChecks: Record<string, Record<string, CustomCheck>> = {
    LoadImage: {
      image: (v) =>
        typeof v === 'string' && ctx.inputFileExists(v) ? true : `Invalid image file: ${String(v)}`,
    },
  };
  const validated = new Map<string, { valid: boolean; errors: ErrorItem[] }>();

  const validateNode = (id: string): { valid: boolean; errors: ErrorItem[] } => {
    const known = validated.get(id);
    if (known) return known;
    const node = prompt[id];
    if (!node) throw Object.assign(new Error(`'${id}'`), { pyType: 'KeyError' });
    const cls = node.class_type as string;
    const spec = ctx.info[cls]!.input;
    const inputs = (node.inputs ??= {});
    const custom = customChecks[cls] ?? {};
    const errors: ErrorItem[] = [];
    let valid = true;
    const all: [string, InputSpec, boolean][] = [
      ...Object.entries(spec.required ?? {}).map(([k, s]): [string, InputSpec, boolean] => [k, s, true]),
      ...Object.entries(spec.optional ?? {}).map(([k, s]): [string, InputSpec, boolean] => [k, s, false]),
    ];
    for (const [name, inputSpec, required] of all) {
      const config = inputSpec[1] ?? {};
      const inputConfig = [inputSpec[0], config];
      if (!(name in inputs)) {
        if (required) {
          errors.push(err('required_input_missing', 'Required input is missing', name, { input_name: name }));
        }
        continue;
      }
      let value = inputs[name];
      const wanted = Array.isArray(inputSpec[0]) ? 'COMBO' : String(inputSpec[0]);
      if (Array.isArray(value)) {
        if (value.length !== 2) {
          errors.push(
            err(
              'bad_linked_input',
              'Bad linked input, must be a length-2 list of [node_id, slot_index]',
              name,
              {
                input_name: name,
                input_config: inputConfig,
                received_value: value,
              },
            ),
          );
          continue;
        }
        const [from, slot] = value as [unknown, unknown];
        const upstream = prompt[String(from)];
        if (!upstream) {
          // ComfyUI raises a KeyError here and files it under the node doing the validating (quirk kept as is).
          validated.set(id, { valid: false, errors: [] });
          throw Object.assign(new Error(`'${String(from)}'`), { pyType: 'KeyError' });
        }
        const received = ctx.info[upstream.class_type as string]!.output[Number(slot)] ?? '*';
        if (!typesMatch(received, wanted)) {
          errors.push(
            err(
              'return_type_mismatch',
              'Return type mismatch between linked nodes',
              `${name}, received_type(${received}) mismatch input_type(${wanted})`,
              { input_name: name, input_config: inputConfig, received_type: received, linked_node: value },
            ),
          );
          continue;
        }
        try {
          if (!validateNode(String(from)).valid) valid = false;
        } catch (e) {
          valid = false;
          const message = (e as Error).message;
          validated.set(String(from), {
            valid: false,
            errors: [
              err('exception_during_inner_validation', 'Exception when validating inner node', message, {
                input_name: name,
                input_config: inputConfig,
                exception_message: message,
                exception_type: (e as { pyType?: string }).pyType ?? 'Exception',
                traceback: [],
                linked_node: value,
              }),
            ],
          });
        }
        continue;
      }
      const converted = convert(wanted, value);
      if ('error' in converted) {
        errors.push(
          err(
            'invalid_input_type',
            `Failed to convert an input value to a ${wanted} value`,
            `${name}, ${String(value)}, ${converted.error}`,
            {
              input_name: name,
              input_config: inputConfig,
              received_value: value,
              exception_message: converted.error,
            },
          ),
        );
        continue;
      }
      value = converted.value;
      if (wanted === 'INT' || wanted === 'FLOAT') inputs[name] = value;
      if (name in custom) continue;
      const extra = { input_name: name, input_config: inputConfig, received_value: value };
      if (typeof config['min'] === 'number' && (value as number) < config['min']) {
        errors.push(
          err(
            'value_smaller_than_min',
            `Value ${String(value)} smaller than min of ${config['min']}`,
            name,
            extra,
          ),
        );
      }
      if (typeof config['max'] === 'number' && (value as number) > config['max']) {
        errors.push(
          err(
            'value_bigger_than_max',
            `Value ${String(value)} bigger than max of ${config['max']}`,
            name,
            extra,
          ),
        );
      }
      if (Array.isArray(inputSpec[0]) && !inputSpec[0].includes(value)) {
        const list = inputSpec[0];
        const long = list.length > 20;
        errors.push(
          err(
            'value_not_in_list',
            'Value not in list',
            `${name}: '${String(value)}' not in ${long ? `(list of length ${list.length})` : pyList(list)}`,
            { ...extra, input_config: long ? null : inputConfig },
          ),
        );
      }
    }
    for (const [name, check] of Object.entries(custom)) {
      if (!(name in inputs)) continue;
      const result = check(inputs[name]);
      if (result !== true) {
        errors.push(
          err('custom_validation_failed', 'Custom validation failed for node', `${name} - ${result}`, {
            input_name: name,
          }),
        );
      }
    }
    const result = { valid: valid && errors.length === 0, errors };
    validated.set(id, result);
    return result;
  };

  const good: string[] = [];
  const outputErrors: ErrorItem[] = [];
  const nodeErrors: Record<string, NodeError> = {};
  for (const o of outputs) {
    let valid: boolean;
    let reasons: ErrorItem[];
    try {
      ({ valid, errors: reasons } = validateNode(o));
    } catch (e) {
      valid = false;
      reasons = [
        err('exception_during_validation', 'Exception when validating node', (e as Error).message, {
          exception_type: (e as { pyType?: string }).pyType ?? 'Exception',
          traceback: [],
        }),
      ];
      validated.set(o, { valid: false, errors: reasons });
    }
    if (valid) {
      good.push(o);
      continue;
    }
    outputErrors.push(...reasons);
    for (const [id, r] of validated) {
      if (r.valid || r.errors.length === 0) continue;
      nodeErrors[id] ??= {
        errors: r.errors,
        dependent_outputs: [],
        class_type: prompt[id]!.class_type as string,
      };
      nodeErrors[id].dependent_outputs.push(o);
    }
  }
  if (good.length === 0) {
    const details = outputErrors.map((e) => `${e.message}: ${e.details}`).join('\n');
    return {
      ok: false,
      error: err('prompt_outputs_failed_validation', 'Prompt outputs failed validation', details),
      nodeErrors,
    };
  }
  return { ok: true, outputs: good, nodeErrors };
}
