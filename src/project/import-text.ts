import { DEFAULT_OUTPUT, SHOT_PROMPT_MAX } from './contract.js';

/**
 * Text helpers shared by the importers (StoryCore-Engine folders, Creative Studio projects): whitespace cleaning,
 * fitting text into the contract's limits without splitting a character, safe ids. Every change they make is
 * reported through the caller's warnings list, naming where in the source the text was.
 */

export const clean = (value: string | undefined): string => (value ?? '').trim().replace(/\s+/g, ' ');

export function optionalText<K extends string>(key: K, value: string): { [P in K]?: string } {
  return (value === '' ? {} : { [key]: value }) as { [P in K]?: string };
}

/** "1920x1080", "1920×1080", [1920, 1080] or {width, height}; an error message when it is none of these. */
export function resolution(value: unknown): { width: number; height: number } | string {
  if (value === undefined) return { ...DEFAULT_OUTPUT };
  let width: unknown;
  let height: unknown;
  if (typeof value === 'string') {
    const match = /^\s*(\d+)\s*[xX×*]\s*(\d+)\s*$/.exec(value);
    if (match === null) return `expected "WIDTHxHEIGHT" such as "1920x1080", got ${JSON.stringify(value)}`;
    width = Number(match[1]);
    height = Number(match[2]);
  } else if (Array.isArray(value) && value.length === 2) {
    [width, height] = value as unknown[];
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    ({ width, height } = value as { width?: unknown; height?: unknown });
  } else {
    return `expected "1920x1080", [1920, 1080] or {"width": 1920, "height": 1080}, got ${JSON.stringify(value)}`;
  }
  const ok = (n: unknown): n is number =>
    typeof n === 'number' && Number.isInteger(n) && n >= 64 && n <= 8192;
  if (!ok(width) || !ok(height))
    return `width and height must be whole numbers of pixels in 64–8192, got ${JSON.stringify(value)}`;
  return { width, height };
}

/** The value most shots use (first seen wins a tie); '' when none gives one. */
export function mostCommon(values: ReadonlyArray<string | undefined>): string {
  const counts = new Map<string, number>();
  for (const v of values.map(clean)) if (v !== '') counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = '';
  let bestCount = 0;
  for (const [v, count] of counts) if (count > bestCount) [best, bestCount] = [v, count];
  return best;
}

/** The value when every shot gives the same non-empty one, else undefined. */
export function allSame(values: ReadonlyArray<string | undefined>): string | undefined {
  const first = clean(values[0]);
  return first !== '' && values.every((v) => clean(v) === first) ? first : undefined;
}

/** Joins prompt parts within the length limit: optional parts go first, then the text is cut at a word. */
export function fitPrompt(required: string[], optional: string[], where: string, warnings: string[]): string {
  const parts = [...required, ...optional].filter((p) => p !== '').map((p) => p.replace(/[\s,;.]+$/, ''));
  const kept = parts.filter((p, i) => parts.findIndex((q) => q.toLowerCase() === p.toLowerCase()) === i);
  let prompt = kept.join(', ');
  const keptRequired = kept.filter((p) => required.includes(p)).length;
  while (prompt.length > SHOT_PROMPT_MAX && kept.length > keptRequired) {
    const dropped = kept.pop();
    warnings.push(`${where}: "${dropped}" left out to keep the prompt within ${SHOT_PROMPT_MAX} characters`);
    prompt = kept.join(', ');
  }
  if (prompt.length > SHOT_PROMPT_MAX) {
    const cut = cutText(prompt, SHOT_PROMPT_MAX);
    warnings.push(
      `${where}: prompt shortened from ${prompt.length} to ${cut.length} characters (the limit is ${SHOT_PROMPT_MAX})`,
    );
    prompt = cut;
  }
  return prompt;
}

export function fitPhrase(value: string | undefined, max: number, where: string, warnings: string[]): string {
  const s = clean(value);
  if (s.length <= max) return s;
  const cut = cutText(s, max);
  warnings.push(`${where} shortened from ${s.length} to ${cut.length} characters (the limit is ${max})`);
  return cut;
}

// Made on first use: building a segmenter loads ICU's break rules (~10 ms), which a run that imports nothing never needs.
let graphemes: Intl.Segmenter | undefined;

/**
 * `text` shortened to at most `max` UTF-16 code units (what the schema's limits count), never splitting a
 * character a reader sees as one (a surrogate pair, an emoji sequence, a letter with its accents). At a word when
 * a space falls in the last half; otherwise — Chinese or Japanese prose, a long URL — at a grapheme boundary.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  for (const { index, segment } of (graphemes ??= new Intl.Segmenter(undefined, {
    granularity: 'grapheme',
  })).segment(text)) {
    if (index + segment.length > max) break;
    end = index + segment.length;
  }
  let cut = text.slice(0, end);
  if (!/\s/.test(text[end] ?? '')) {
    const lastSpace = cut.search(/\s\S*$/);
    if (lastSpace > max / 2) cut = cut.slice(0, lastSpace);
  }
  return cut.replace(/[\s,;.、。，；]+$/u, '');
}

/** Turns any text into a safe id: runs of other characters become "-", no "..", starts with a letter or digit. */
export function sanitiseId(raw: string): string {
  return raw
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
    .replace(/[._-]+$/, '');
}
