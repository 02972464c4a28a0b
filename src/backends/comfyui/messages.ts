/**
 * ComfyUI's WebSocket messages as the client reads them. JSON frames are `{type, data}`; binary frames start with a
 * big-endian uint32 event type: 1 = preview image (uint32 format at offset 4: 1 JPEG, 2 PNG; bytes from offset 8),
 * 3 = text from a node (uint32 length of the node id, the id, UTF-8 text), 4 = preview with a JSON metadata header
 * (uint32 length, JSON, bytes). Parsed defensively: a server may send anything.
 */

export interface ComfyMessage {
  type: string;
  data: Record<string, unknown>;
}

export interface PreviewImage {
  format: 'jpeg' | 'png' | 'webp' | 'unknown';
  bytes: Buffer;
  /** The node and prompt the preview belongs to, when the server said (type 4 frames). */
  nodeId?: string;
  promptId?: string;
}

export type BinaryMessage =
  | { kind: 'preview'; preview: PreviewImage }
  | { kind: 'text'; nodeId: string; text: string }
  | { kind: 'unknown'; eventType: number };

export function parseJsonMessage(text: string): ComfyMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, data } = value as { type?: unknown; data?: unknown };
  if (typeof type !== 'string') return undefined;
  return { type, data: typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {} };
}

const IMAGE_FORMATS: Record<number, PreviewImage['format']> = { 1: 'jpeg', 2: 'png' };

function formatFromMime(mime: unknown): PreviewImage['format'] {
  if (typeof mime !== 'string') return 'unknown';
  if (mime.includes('png')) return 'png';
  if (mime.includes('jpeg') || mime.includes('jpg')) return 'jpeg';
  if (mime.includes('webp')) return 'webp';
  return 'unknown';
}

export function parseBinaryMessage(frame: Buffer): BinaryMessage | undefined {
  if (frame.length < 4) return undefined;
  const eventType = frame.readUInt32BE(0);
  if (eventType === 1) {
    if (frame.length < 8) return undefined;
    const format = IMAGE_FORMATS[frame.readUInt32BE(4)] ?? 'unknown';
    return { kind: 'preview', preview: { format, bytes: frame.subarray(8) } };
  }
  if (eventType === 3) {
    if (frame.length < 8) return undefined;
    const idLength = frame.readUInt32BE(4);
    if (8 + idLength > frame.length) return undefined;
    return {
      kind: 'text',
      nodeId: frame.subarray(8, 8 + idLength).toString('utf8'),
      text: frame.subarray(8 + idLength).toString('utf8'),
    };
  }
  if (eventType === 4) {
    if (frame.length < 8) return undefined;
    const metaLength = frame.readUInt32BE(4);
    if (8 + metaLength > frame.length) return undefined;
    let meta: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(frame.subarray(8, 8 + metaLength).toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null) meta = parsed as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const preview: PreviewImage = {
      format: formatFromMime(meta['image_type']),
      bytes: frame.subarray(8 + metaLength),
    };
    if (typeof meta['node_id'] === 'string') preview.nodeId = meta['node_id'];
    if (typeof meta['prompt_id'] === 'string') preview.promptId = meta['prompt_id'];
    return { kind: 'preview', preview };
  }
  return { kind: 'unknown', eventType };
}

/** The prompt a JSON message is about, when it names one. */
export function promptIdOf(message: ComfyMessage): string | undefined {
  const id = message.data['prompt_id'];
  return typeof id === 'string' ? id : undefined;
}
