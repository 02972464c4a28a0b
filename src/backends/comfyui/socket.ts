import WebSocket from 'ws';
import { parseBinaryMessage, parseJsonMessage, type BinaryMessage, type ComfyMessage } from './messages.js';

/**
 * One WebSocket to one server that reconnects with exponential backoff and full jitter for as long as somebody needs
 * it (a job is waiting), and never gives up while that is so. State lives outside the socket: a lost connection loses
 * no job, because jobs are also followed by polling (see job-watch.ts). A half-open connection (no pong to our pings)
 * is torn down and replaced.
 */

export interface SocketHandlers {
  onMessage(message: ComfyMessage): void;
  onBinary(message: BinaryMessage): void;
  onOpen(): void;
  onClose(reason: string): void;
}

export interface ReconnectingSocketOptions {
  headers?: Record<string, string>;
  /** First reconnect delay, ms; doubles up to maxDelayMs, with full jitter. @default 250 */
  initialDelayMs?: number;
  /** @default 5000 */
  maxDelayMs?: number;
  /** Ping interval; a connection without a pong by the next ping is dead. @default 15000 */
  pingIntervalMs?: number;
  /** Largest message accepted (previews of big frames). @default 64 MiB */
  maxPayload?: number;
}

export class ReconnectingSocket {
  private ws: WebSocket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private users = 0;
  private closed = false;
  private openWaiters: Array<() => void> = [];
  /** Why the last connection attempt or connection ended, for error messages. */
  lastError = '';

  constructor(
    private readonly url: string,
    private readonly handlers: SocketHandlers,
    private readonly options: ReconnectingSocketOptions = {},
  ) {}

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Someone needs the socket: connect (or keep reconnecting) until `release`. */
  acquire(): void {
    this.users++;
    if (!this.ws && !this.retryTimer) this.connect();
  }

  release(): void {
    this.users = Math.max(0, this.users - 1);
  }

  /** Resolves once the socket is open, or after `timeoutMs` regardless (polling covers a socket that is down). */
  waitOpen(timeoutMs: number): Promise<void> {
    // A socket whose last attempt failed is not waited for: polling carries the job until it is back.
    if (this.isOpen || this.closed || this.lastError !== '') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.openWaiters = this.openWaiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.openWaiters.push(done);
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.retryTimer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
    }
    for (const w of [...this.openWaiters]) w();
  }

  private connect(): void {
    if (this.closed) return;
    this.retryTimer = undefined;
    const ws = new WebSocket(this.url, {
      headers: this.options.headers ?? {},
      maxPayload: this.options.maxPayload ?? 64 * 1024 * 1024,
      handshakeTimeout: 10_000,
      // ComfyUI's messages are small JSON and already-compressed previews: inflating them costs a round trip
      // through the libuv thread pool per message (measured: the largest CPU cost of a trivial job) for nothing.
      perMessageDeflate: false,
    });
    this.ws = ws;
    let alive = true;
    ws.on('open', () => {
      this.attempt = 0;
      this.lastError = '';
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => {
        if (!alive) {
          this.lastError = 'no answer to ping';
          ws.terminate();
          return;
        }
        alive = false;
        ws.ping();
      }, this.options.pingIntervalMs ?? 15_000);
      this.pingTimer.unref();
      this.handlers.onOpen();
      for (const w of [...this.openWaiters]) w();
    });
    ws.on('pong', () => {
      alive = true;
    });
    ws.on('message', (data, isBinary) => {
      alive = true;
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        const parsed = parseBinaryMessage(buffer);
        if (parsed) this.handlers.onBinary(parsed);
      } else {
        const parsed = parseJsonMessage(buffer.toString('utf8'));
        if (parsed) this.handlers.onMessage(parsed);
      }
    });
    ws.on('error', (error) => {
      this.lastError = (error as { code?: string }).code ?? error.message;
    });
    ws.on('close', (code) => {
      clearInterval(this.pingTimer);
      if (this.ws !== ws) return;
      this.ws = undefined;
      const reason = this.lastError || `closed (${code})`;
      this.lastError = reason;
      for (const w of [...this.openWaiters]) w();
      this.handlers.onClose(reason);
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.users === 0 || this.retryTimer) return;
    const initial = this.options.initialDelayMs ?? 250;
    const max = this.options.maxDelayMs ?? 5_000;
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    // Full jitter: many clients of a restarted server do not reconnect in lockstep.
    const delay = initial / 2 + Math.random() * ceiling;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref();
  }
}
