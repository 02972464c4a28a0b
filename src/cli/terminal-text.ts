/**
 * Text from a project file (names, prompts, ids in messages) reaches a terminal through the CLI. Control characters
 * in it would be obeyed, not shown: ESC sequences recolour or clear the screen, `\r` overwrites the line, bidi
 * overrides reorder what a person reads. They are printed as visible `\uXXXX` escapes instead — which also keeps a
 * JSON line valid, since inside a JSON string `\uXXXX` is the same character.
 * Kept: `\n` (multi-line messages) and `\t`.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function escapeTerminalText(text: string): string {
  return text.replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
