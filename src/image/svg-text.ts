/**
 * Text that reaches librsvg inside an SVG document (draft captions, contact-sheet labels). Every user string is
 * XML-escaped and stripped of the characters XML 1.0 cannot carry: a control character in a project name or a
 * prompt otherwise makes librsvg reject the whole document ("PCDATA invalid Char value").
 */

// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function escapeXml(text: string): string {
  return text
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
