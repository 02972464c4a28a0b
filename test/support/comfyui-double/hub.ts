/**
 * The WebSocket side of the double: ComfyUI's `sockets` dict keyed by clientId, with its quirks kept — a second socket
 * with the same clientId takes the entry over (the old one stays open but hears nothing), and when that old socket
 * closes it removes the entry, silencing the newer socket until it reconnects (server.py, 0.3.64).
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';

export class SocketHub {
  private readonly sockets = new Map<string, WebSocket>();
  /** Every socket ever accepted and still open, including ones displaced by a newer socket of the same id. */
  private readonly open = new Set<WebSocket>();

  /** Register a connection; returns its sid (a hex uuid when the client gave no clientId, as ComfyUI does). */
  add(ws: WebSocket, clientId: string | undefined): string {
    const sid = clientId || randomUUID().replaceAll('-', '');
    this.sockets.delete(sid);
    this.sockets.set(sid, ws);
    this.open.add(ws);
    ws.on('close', () => {
      this.open.delete(ws);
      this.sockets.delete(sid);
    });
    // A client that sends us anything (feature flags in newer front ends) is simply ignored, as far as we care.
    ws.on('error', () => undefined);
    return sid;
  }

  /** ComfyUI's `send_json(event, data, sid)`: to that sid only, or to everyone when sid is undefined. */
  send(type: string, data: unknown, sid: string | undefined): void {
    const text = JSON.stringify({ type, data });
    for (const ws of this.targets(sid)) ws.send(text);
  }

  /** Binary frames (previews): the same routing as JSON messages. */
  sendBinary(frame: Buffer, sid: string | undefined): void {
    for (const ws of this.targets(sid)) ws.send(frame);
  }

  /** Cut every connection without a close handshake, as a crash or a dropped network does. */
  terminateAll(): void {
    for (const ws of this.open) ws.terminate();
    this.open.clear();
    this.sockets.clear();
  }

  private targets(sid: string | undefined): WebSocket[] {
    const list =
      sid === undefined ? [...this.sockets.values()] : [this.sockets.get(sid)].filter((w) => w !== undefined);
    return list.filter((w) => w.readyState === w.OPEN);
  }
}
