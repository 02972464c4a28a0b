import type { ValidationIssue } from '../../core/errors.js';
import { inputSpec, isModelInput, requiredInputs, SCALAR_TYPES, type ObjectInfo } from './object-info.js';
import { placeholderUses, type Workflow } from './workflow.js';

/**
 * Checks a workflow against one server's `/object_info` before anything is queued, listing every problem with the
 * node it is in: node classes the server lacks (an uninstalled custom node), required inputs missing, links to
 * nodes that do not exist or outputs they do not have, values outside a list (a model file the server does not
 * have, an unknown sampler) or outside a numeric range. Placeholder values are checked by type only: their values
 * differ per request.
 */
export function validateWorkflow(workflow: Workflow, info: ObjectInfo): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const placeholders = new Set(placeholderUses(workflow).map((u) => `${u.nodeId}\u0000${u.input}`));
  for (const [id, node] of Object.entries(workflow)) {
    const where = `node ${id} ${node.class_type}`;
    const path = (input?: string): string => `$["${id}"]${input === undefined ? '' : `.inputs.${input}`}`;
    const cls = info[node.class_type];
    if (!cls) {
      issues.push({
        path: path(),
        message: `${where}: the server has no node type "${node.class_type}" (a custom node that is not installed?)`,
      });
      continue;
    }
    for (const name of requiredInputs(cls)) {
      if (!(name in node.inputs))
        issues.push({ path: path(name), message: `${where}: required input "${name}" is missing` });
    }
    for (const [name, value] of Object.entries(node.inputs)) {
      const spec = inputSpec(cls, name);
      if (!spec) continue; // Extra inputs are ignored by ComfyUI too (widgets converted to inputs, old fields).
      if (Array.isArray(value)) {
        const [from, index] = value as unknown[];
        const source = typeof from === 'string' ? workflow[from] : undefined;
        if (typeof from !== 'string' || typeof index !== 'number') {
          issues.push({
            path: path(name),
            message: `${where}: input "${name}" is a malformed link (expected ["<node id>", <output index>])`,
          });
        } else if (!source) {
          issues.push({
            path: path(name),
            message: `${where}: input "${name}" links to node ${from}, which is not in the workflow`,
          });
        } else {
          const outputs = info[source.class_type]?.output;
          if (outputs && (index < 0 || index >= outputs.length)) {
            issues.push({
              path: path(name),
              message: `${where}: input "${name}" links to output ${index} of node ${from} ${source.class_type}, which has ${outputs.length}`,
            });
          } else if (outputs && spec.type !== 'COMBO' && !SCALAR_TYPES.has(spec.type)) {
            const produced = String(outputs[index]);
            if (
              produced !== '*' &&
              spec.type !== '*' &&
              !spec.type.split(',').includes(produced) &&
              !produced.split(',').includes(spec.type)
            ) {
              issues.push({
                path: path(name),
                message: `${where}: input "${name}" expects ${spec.type} but node ${from} ${source.class_type} output ${index} is ${produced}`,
              });
            }
          }
        }
        continue;
      }
      if (placeholders.has(`${id}\u0000${name}`)) continue;
      if (!SCALAR_TYPES.has(spec.type)) {
        issues.push({
          path: path(name),
          message: `${where}: input "${name}" needs a link to a node giving ${spec.type}`,
        });
        continue;
      }
      if (spec.type === 'COMBO' && spec.options) {
        if (!spec.options.includes(String(value))) {
          const what = isModelInput(name)
            ? `is not one of the server's models`
            : `is not one of the allowed values`;
          const known =
            spec.options.length === 0
              ? ' (the server has none)'
              : spec.options.length <= 8
                ? ` (${spec.options.join(', ')})`
                : ` (${spec.options.length} choices)`;
          issues.push({ path: path(name), message: `${where}: ${name} '${String(value)}' ${what}${known}` });
        }
      } else if (spec.type === 'INT' || spec.type === 'FLOAT') {
        if (
          typeof value !== 'number' ||
          !Number.isFinite(value) ||
          (spec.type === 'INT' && !Number.isInteger(value))
        ) {
          issues.push({
            path: path(name),
            message: `${where}: ${name} must be ${spec.type === 'INT' ? 'an integer' : 'a number'}, got ${JSON.stringify(value)}`,
          });
        } else if (spec.min !== undefined && value < spec.min) {
          issues.push({
            path: path(name),
            message: `${where}: ${name} ${value} is below the minimum ${spec.min}`,
          });
        } else if (spec.max !== undefined && value > spec.max) {
          issues.push({
            path: path(name),
            message: `${where}: ${name} ${value} is above the maximum ${spec.max}`,
          });
        }
      }
    }
  }
  return issues;
}
