import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import type { Project, Shot } from './schema.js';

/**
 * The text sent to an image backend for a shot. Order (fixed, so the same project always sends the same text):
 *
 *   style.prompt, shot.prompt, shot.camera, shot.lighting, shot.mood
 *
 * The style leads because it is the part every shot shares, the anchor of the sequence's look; the shot's own
 * description follows, then how it is framed, lit and felt. Parts are joined with ", " after trimming and
 * dropping trailing separators (",", ";", "."), and a part already present word-for-word (ignoring case) is not
 * repeated, so "cinematic" in both style and shot is sent once. Camera, lighting and mood are sent as written:
 * write them as phrases ("low-angle wide shot", "storm light through wet glass", "lonely, tense").
 */
export function composeShotPrompt(
  project: Pick<Project, 'style'>,
  shot: Pick<Shot, 'prompt' | 'camera' | 'lighting' | 'mood'>,
): string {
  return joinParts([project.style.prompt, shot.prompt, shot.camera, shot.lighting, shot.mood]);
}

/**
 * The negative prompt for a shot: the style's terms then the shot's, comma-separated terms deduplicated
 * (ignoring case, first spelling kept). Empty string when neither gives one.
 */
export function composeNegativePrompt(
  project: Pick<Project, 'style'>,
  shot: Pick<Shot, 'negativePrompt'>,
): string {
  const seen = new Set<string>();
  const terms: string[] = [];
  for (const source of [project.style.negativePrompt, shot.negativePrompt]) {
    for (const raw of (source ?? '').split(',')) {
      const term = raw.trim();
      const key = term.toLowerCase();
      if (term === '' || seen.has(key)) continue;
      seen.add(key);
      terms.push(term);
    }
  }
  return terms.join(', ');
}

/** sha256 (hex) of the canonical JSON of a validated project: equal projects hash equal, whatever their key order. */
export function projectContentHash(project: Project): string {
  return createHash('sha256').update(canonicalJson(project)).digest('hex');
}

function joinParts(parts: ReadonlyArray<string | undefined>): string {
  const kept: string[] = [];
  for (const part of parts) {
    const text = (part ?? '').trim().replace(/[\s,;.]+$/, '');
    if (text === '') continue;
    const key = text.toLowerCase();
    if (kept.some((k) => containsPhrase(k.toLowerCase(), key))) continue;
    kept.push(text);
  }
  return kept.join(', ');
}

/** Whole-phrase containment, so "wide" is not dropped because "widescreen" was said. */
function containsPhrase(haystack: string, phrase: string): boolean {
  let from = 0;
  while (true) {
    const at = haystack.indexOf(phrase, from);
    if (at < 0) return false;
    const before = haystack[at - 1];
    const after = haystack[at + phrase.length];
    if (
      (before === undefined || !/[\p{L}\p{N}]/u.test(before)) &&
      (after === undefined || !/[\p{L}\p{N}]/u.test(after))
    ) {
      return true;
    }
    from = at + 1;
  }
}
