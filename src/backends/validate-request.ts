import { ValidationError, type ValidationIssue } from '../core/errors.js';
import type { GenerationRequest } from './types.js';

/** Largest side a backend request may ask for; matches the project schema's output bound. */
export const MAX_REQUEST_SIDE = 8192;

const HEX = /^#[0-9a-f]{6}$/i;
const PURPOSES = new Set(['sheet-panel', 'shot', 'regenerate']);

/**
 * Checks a generation request before any work: the pipeline builds requests from validated projects, but a
 * backend is also a public entry point, so it refuses nonsense (0 px, NaN seeds) with an exact message.
 */
export function validateGenerationRequest(request: GenerationRequest, where = 'request'): void {
  const issues: ValidationIssue[] = [];
  const side = (key: 'width' | 'height'): void => {
    const v = request[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_REQUEST_SIDE) {
      issues.push({
        path: key,
        message: `${key} must be an integer from 1 to ${MAX_REQUEST_SIDE} px, got ${String(v)}`,
      });
    }
  };
  side('width');
  side('height');
  const seed = request.seed;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    issues.push({ path: 'seed', message: `seed must be a non-negative safe integer, got ${String(seed)}` });
  }
  if (typeof request.prompt !== 'string' || request.prompt.trim() === '') {
    issues.push({ path: 'prompt', message: 'prompt must be a non-empty string' });
  }
  if (!PURPOSES.has(request.purpose)) {
    issues.push({
      path: 'purpose',
      message: `purpose must be one of ${[...PURPOSES].join(', ')}, got ${String(request.purpose)}`,
    });
  }
  if (request.palette !== undefined) {
    if (!Array.isArray(request.palette) || request.palette.length === 0) {
      issues.push({
        path: 'palette',
        message: 'palette must be a non-empty list of #rrggbb colours when given',
      });
    } else {
      request.palette.forEach((c, i) => {
        if (typeof c !== 'string' || !HEX.test(c))
          issues.push({ path: `palette[${i}]`, message: `not a #rrggbb colour: ${String(c)}` });
      });
    }
  }
  if (request.shotNumber !== undefined && (!Number.isInteger(request.shotNumber) || request.shotNumber < 0)) {
    issues.push({
      path: 'shotNumber',
      message: `shotNumber must be a non-negative integer, got ${String(request.shotNumber)}`,
    });
  }
  if (issues.length > 0) {
    const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ValidationError(`invalid generation ${where}: ${summary}`, issues);
  }
}
