/**
 * Where a JSON text breaks, as line and column a person can jump to.
 *
 * V8 reports the offset in its message, in shapes that changed over releases:
 *   Node ≤ 18: `Unexpected token } in JSON at position 12`
 *   Node 20:   `Expected ',' or '}' after property value in JSON at position 12`
 *   Node 22+:  `... in JSON at position 12 (line 2 column 5)`
 * and for some mistakes no offset at all (`Unexpected token 'x', "x" is not valid JSON`). So the offset is
 * read from the message when it is there and found by our own scan of the grammar when it is not.
 */
import { ValidationError, type ValidationIssue } from '../core/errors.js';

export interface JsonSyntaxProblem {
  /** UTF-16 offset into the text. */
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units from the start of the line. */
  column: number;
  /** What is wrong, without the position (that is in the fields). */
  reason: string;
}

/** Parses JSON text; on a syntax error returns where and why instead of throwing. */
export function parseJsonText(
  text: string,
): { ok: true; value: unknown } | { ok: false; problem: JsonSyntaxProblem } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, problem: locateSyntaxError(text, message) };
  }
}

/** Turns a JSON.parse failure message into a located problem; the text is scanned when the message has no offset. */
export function locateSyntaxError(text: string, message: string): JsonSyntaxProblem {
  const fromMessage = positionFromMessage(text, message);
  if (fromMessage !== undefined) {
    return { ...fromMessage, reason: cleanReason(message) };
  }
  const scanned = scanJsonSyntax(text) ?? { offset: text.length, reason: cleanReason(message) };
  return { ...lineColumnAt(text, scanned.offset), offset: scanned.offset, reason: scanned.reason };
}

/** The offset (and line/column) a V8 message states, if it states one. */
export function positionFromMessage(
  text: string,
  message: string,
): { offset: number; line: number; column: number } | undefined {
  const position = /\bat position (\d+)/.exec(message);
  if (position?.[1] !== undefined) {
    const offset = Math.min(Number(position[1]), text.length);
    const stated = /\(line (\d+) column (\d+)\)/.exec(message);
    if (stated?.[1] !== undefined && stated[2] !== undefined) {
      return { offset, line: Number(stated[1]), column: Number(stated[2]) };
    }
    return { offset, ...lineColumnAt(text, offset) };
  }
  if (/Unexpected end of JSON input/.test(message)) {
    return { offset: text.length, ...lineColumnAt(text, text.length) };
  }
  return undefined;
}

function cleanReason(message: string): string {
  return message
    .replace(/\s*in JSON at position \d+(\s*\(line \d+ column \d+\))?/, '')
    .replace(/, ".*" is not valid JSON$/s, '')
    .trim();
}

/** 1-based line and column of an offset; "\r\n", "\n" and a lone "\r" each end a line. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

type State = 'value' | 'value-or-]' | 'key-or-}' | 'key' | 'colon' | 'after-value';

/**
 * Finds the first syntax error of a JSON text by walking the grammar (RFC 8259) with an explicit stack, so
 * deeply nested input cannot overflow the call stack. Returns undefined for valid JSON.
 */
export function scanJsonSyntax(text: string): { offset: number; reason: string } | undefined {
  const n = text.length;
  const stack: Array<'[' | '{'> = [];
  let state: State = 'value';
  let i = 0;
  const describe = (at: number): string =>
    at >= n ? 'Unexpected end of JSON input' : `Unexpected character ${JSON.stringify(text[at])}`;

  while (true) {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
    const c = text[i];
    switch (state) {
      case 'value':
      case 'value-or-]': {
        if (state === 'value-or-]' && c === ']') {
          stack.pop();
          i++;
          state = 'after-value';
          break;
        }
        if (c === ']' && stack[stack.length - 1] === '[') {
          // Only reachable right after a comma: '[' itself leads to 'value-or-]'.
          return { offset: i, reason: "Trailing comma before ']' (JSON allows none)" };
        }
        if (c === '{') {
          stack.push('{');
          i++;
          state = 'key-or-}';
          break;
        }
        if (c === '[') {
          stack.push('[');
          i++;
          state = 'value-or-]';
          break;
        }
        const end = c === '"' ? scanString(text, i) : scanScalar(text, i);
        if (typeof end !== 'number') return end ?? { offset: i, reason: describe(i) };
        i = end;
        state = 'after-value';
        break;
      }
      case 'key-or-}':
      case 'key': {
        if (state === 'key-or-}' && c === '}') {
          stack.pop();
          i++;
          state = 'after-value';
          break;
        }
        if (c !== '"') {
          return {
            offset: i,
            reason: i >= n ? describe(i) : `Expected double-quoted property name, found ${JSON.stringify(c)}`,
          };
        }
        const end = scanString(text, i);
        if (typeof end !== 'number') return end;
        i = end;
        state = 'colon';
        break;
      }
      case 'colon':
        if (c !== ':')
          return { offset: i, reason: i >= n ? describe(i) : "Expected ':' after property name" };
        i++;
        state = 'value';
        break;
      case 'after-value': {
        const top = stack[stack.length - 1];
        if (top === undefined) {
          return i >= n ? undefined : { offset: i, reason: 'Unexpected non-whitespace character after JSON' };
        }
        const close = top === '[' ? ']' : '}';
        if (c === ',') {
          i++;
          state = top === '[' ? 'value' : 'key';
        } else if (c === close) {
          stack.pop();
          i++;
        } else {
          const after = top === '[' ? 'array element' : 'property value';
          return { offset: i, reason: i >= n ? describe(i) : `Expected ',' or '${close}' after ${after}` };
        }
        break;
      }
    }
  }
}

/** Scans a string starting at its opening quote; returns the offset after the closing quote, or the problem. */
function scanString(text: string, start: number): number | { offset: number; reason: string } {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20) return { offset: i, reason: 'Bad control character in string literal' };
    if (c === 0x5c) {
      const e = text[i + 1];
      if (e === undefined) break;
      if (e === 'u') {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) return { offset: i + 1, reason: 'Bad Unicode escape' };
        i += 6;
        continue;
      }
      if (!'"\\/bfnrt'.includes(e)) return { offset: i + 1, reason: 'Bad escaped character' };
      i += 2;
      continue;
    }
    i++;
  }
  return { offset: text.length, reason: 'Unterminated string' };
}

/** Scans a number or literal; returns the offset after it, a problem, or undefined when nothing scalar starts here. */
function scanScalar(text: string, start: number): number | { offset: number; reason: string } | undefined {
  for (const literal of ['true', 'false', 'null']) {
    if (text[start] !== literal[0]) continue;
    for (let k = 1; k < literal.length; k++) {
      if (text[start + k] !== literal[k]) {
        const at = start + k;
        return {
          offset: at,
          reason:
            at >= text.length
              ? 'Unexpected end of JSON input'
              : `Unexpected character ${JSON.stringify(text[at])}`,
        };
      }
    }
    return start + literal.length;
  }
  const isDigit = (at: number): boolean =>
    at < text.length && text.charCodeAt(at) >= 0x30 && text.charCodeAt(at) <= 0x39;
  let i = start;
  if (text[i] === '-') {
    i++;
    if (!isDigit(i)) return { offset: i, reason: 'No number after minus sign' };
  } else if (!isDigit(i)) {
    return undefined;
  }
  if (text[i] === '0') {
    i++;
  } else {
    while (isDigit(i)) i++;
  }
  if (text[i] === '.') {
    i++;
    if (!isDigit(i)) return { offset: i, reason: 'Unterminated fractional number' };
    while (isDigit(i)) i++;
  }
  if (text[i] === 'e' || text[i] === 'E') {
    i++;
    if (text[i] === '+' || text[i] === '-') i++;
    if (!isDigit(i)) return { offset: i, reason: 'Exponent part is missing a number' };
    while (isDigit(i)) i++;
  }
  return i;
}

/** The offending line with a caret under the column, for messages shown in a terminal. */
export function excerptAt(text: string, line: number, column: number): string {
  const lines = text.split(/\r\n|\n|\r/);
  const content = (lines[line - 1] ?? '').replace(/\t/g, ' ');
  // Long minified lines: show a window around the column rather than megabytes of text.
  const from = Math.max(0, column - 60);
  const shown = content.slice(from, from + 120);
  const gutter = `${line} | `;
  return `${gutter}${shown}\n${' '.repeat(gutter.length - 2)}| ${' '.repeat(Math.max(0, column - 1 - from))}^`;
}

/**
 * Parses JSON text as a document, throwing ValidationError with line, column and the offending line when it
 * is not JSON. A leading byte-order mark (Windows editors write one) is ignored.
 */
export function parseJsonDocument(text: string, source: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const parsed = parseJsonText(body);
  if (parsed.ok) return parsed.value;
  const { line, column, offset, reason } = parsed.problem;
  const issue: ValidationIssue = {
    path: '$',
    message: `invalid JSON at line ${line}, column ${column}: ${reason}`,
  };
  throw new ValidationError(`${source}: ${issue.message}\n${excerptAt(body, line, column)}`, [issue], {
    details: { source, line, column, offset },
  });
}
