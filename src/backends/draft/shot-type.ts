/**
 * Reads the camera text of a shot ("slow push-in, low angle close-up") into the framing the draft draws.
 * Order matters: the more specific phrase wins ("extreme close-up" before "close-up", "medium close" before "medium").
 */

export const SHOT_TYPES = [
  'extreme-wide',
  'wide',
  'medium',
  'medium-close',
  'close-up',
  'extreme-close-up',
  'over-the-shoulder',
  'aerial',
] as const;
export type ShotType = (typeof SHOT_TYPES)[number];

export type CameraAngle = 'eye' | 'low' | 'high';
export type CameraMove = 'none' | 'pan' | 'tilt' | 'tracking' | 'dolly-in' | 'dolly-out' | 'zoom';

export interface Framing {
  type: ShotType;
  angle: CameraAngle;
  move: CameraMove;
  /** Dutch (canted) angle in degrees, 0 when level. */
  roll: number;
  /** Short board notation: "WS", "CU", "OTS"… */
  abbreviation: string;
}

const TYPE_RULES: ReadonlyArray<readonly [RegExp, ShotType]> = [
  [/\b(extreme|very|ultra)[\s-]*close[\s-]*(up)?\b|\becu\b|\bmacro\b|\bdetail shot\b/, 'extreme-close-up'],
  [/\bover[\s-]*the[\s-]*shoulder\b|\bots\b/, 'over-the-shoulder'],
  [/\baerial\b|\bbird'?s?[\s-]*eye\b|\btop[\s-]*down\b|\boverhead\b|\bdrone\b/, 'aerial'],
  [/\b(extreme|very)[\s-]*wide\b|\bestablishing\b|\bews\b|\bvista\b|\blandscape shot\b/, 'extreme-wide'],
  [/\bmedium[\s-]*close\b|\bmcu\b/, 'medium-close'],
  [/\bclose[\s-]*up\b|\bcloseup\b|\bcu\b|\bportrait\b|\bclose shot\b/, 'close-up'],
  [/\bmedium\b|\bmid[\s-]*shot\b|\bms\b|\bwaist\b|\bcowboy\b|\bamerican shot\b|\btwo[\s-]*shot\b/, 'medium'],
  [/\bwide\b|\bfull[\s-]*shot\b|\blong shot\b|\bws\b|\bls\b|\bfull body\b/, 'wide'],
];

const ABBREVIATIONS: Record<ShotType, string> = {
  'extreme-wide': 'EWS',
  wide: 'WS',
  medium: 'MS',
  'medium-close': 'MCU',
  'close-up': 'CU',
  'extreme-close-up': 'ECU',
  'over-the-shoulder': 'OTS',
  aerial: 'AERIAL',
};

function angleOf(text: string): CameraAngle {
  if (/\blow[\s-]*angle\b|\bworm'?s?[\s-]*eye\b|\blooking up\b|\bfrom below\b/.test(text)) return 'low';
  if (/\bhigh[\s-]*angle\b|\blooking down\b|\bfrom above\b/.test(text)) return 'high';
  return 'eye';
}

function moveOf(text: string): CameraMove {
  if (
    /\btracking\b|\btrack(s|ing)? (with|along)\b|\bdolly (left|right)\b|\btruck\b|\bfollow(s|ing)?\b|\bsteadicam\b/.test(
      text,
    )
  )
    return 'tracking';
  if (/\bpush[\s-]*in\b|\bdolly[\s-]*in\b|\bpushes in\b|\bcreep(s|ing)? in\b/.test(text)) return 'dolly-in';
  if (/\bpull[\s-]*(back|out)\b|\bdolly[\s-]*out\b/.test(text)) return 'dolly-out';
  if (/\bzoom/.test(text)) return 'zoom';
  if (/\bpan(s|ning)?\b|\bwhip\b/.test(text)) return 'pan';
  if (/\btilt(s|ing)?\b|\bcrane\b|\bpedestal\b/.test(text)) return 'tilt';
  return 'none';
}

/**
 * Framing from the camera text, falling back to the prompt (a panel prompt like "close-up portrait…" carries its
 * own framing), then to a wide shot, the most common storyboard default.
 */
export function parseFraming(camera: string | undefined, prompt: string): Framing {
  const cam = (camera ?? '').toLowerCase();
  const all = `${cam} ${prompt.toLowerCase()}`;
  const typeFrom = (text: string): ShotType | undefined => TYPE_RULES.find(([re]) => re.test(text))?.[1];
  const type = typeFrom(cam) ?? typeFrom(prompt.toLowerCase()) ?? 'wide';
  const source = cam.trim() === '' ? all : cam;
  const roll = /\bdutch\b|\bcanted\b|\btilted frame\b|\boblique\b/.test(source) ? 8 : 0;
  return { type, angle: angleOf(source), move: moveOf(source), roll, abbreviation: ABBREVIATIONS[type] };
}
