/** One Server-Sent Event as a browser's EventSource would hand it over. */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads an SSE response until `until` says stop (or the stream ends), parsing the wire format itself so the tests
 * see exactly what a browser would: ids, event names, data lines, comments skipped.
 */
export async function readSse(
  url: string,
  options: {
    headers?: Record<string, string>;
    until?: (m: SseMessage) => boolean;
    signal?: AbortSignal;
  } = {},
): Promise<{ status: number; contentType: string | null; messages: SseMessage[] }> {
  const controller = new AbortController();
  options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  const response = await fetch(url, { headers: options.headers ?? {}, signal: controller.signal });
  const messages: SseMessage[] = [];
  if (!response.body || response.status !== 200) {
    return { status: response.status, contentType: response.headers.get('content-type'), messages };
  }
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const message: SseMessage = { event: 'message', data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const at = line.indexOf(':');
          const field = at < 0 ? line : line.slice(0, at);
          const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
          if (field === 'id') message.id = value;
          else if (field === 'event') message.event = value;
          else if (field === 'data') data.push(value);
        }
        if (data.length === 0 && message.id === undefined) continue;
        message.data = data.join('\n');
        messages.push(message);
        if (options.until?.(message))
          return { status: 200, contentType: response.headers.get('content-type'), messages };
      }
    }
  } finally {
    controller.abort();
  }
  return { status: response.status, contentType: response.headers.get('content-type'), messages };
}
