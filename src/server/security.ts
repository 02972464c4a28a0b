import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { HttpError } from './http-errors.js';

export const TOKEN_COOKIE = 'storycore_token';

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return decodeURIComponent(part.slice(at + 1).trim());
  }
  return undefined;
}

export interface GuardOptions {
  /** Required on every API call and event stream when set (always set off loopback). */
  token?: string;
  /** True when the server listens on a loopback address only. */
  loopback: boolean;
}

/**
 * What every request passes before a route sees it:
 * - on loopback, a Host header that is not a loopback name is refused (a page on another site that rebinds its DNS
 *   to 127.0.0.1 would otherwise drive the API with no token);
 * - a state-changing request from another origin is refused (a form on another site cannot POST here);
 * - with a token, /api needs it: `Authorization: Bearer`, the cookie set when a page was opened with `?token=`
 *   (so <img> and EventSource, which cannot set headers, carry it), or `?token=` itself.
 */
export function guard(options: GuardOptions): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host') ?? '';
    const hostname = host.replace(/:\d+$/, '');
    if (options.loopback && !isLoopbackHost(hostname)) {
      throw new HttpError(403, 'forbidden-host', `requests must name a loopback host, not "${hostname}"`);
    }
    const origin = c.req.header('origin');
    if (origin && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      let originHost = '';
      try {
        originHost = new URL(origin).host;
      } catch {
        // an unparseable Origin is a foreign one
      }
      if (originHost !== host)
        throw new HttpError(403, 'forbidden-origin', `cross-origin request from ${origin} refused`);
    }
    const token = options.token;
    if (token) {
      const fromQuery = c.req.query('token');
      const auth = c.req.header('authorization');
      const fromHeader = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
      const fromCookie = cookieValue(c.req.header('cookie'), TOKEN_COOKIE);
      const ok = [fromHeader, fromCookie, fromQuery].some((t) => sameToken(t, token));
      if (c.req.path.startsWith('/api/') && !ok) {
        throw new HttpError(
          401,
          'unauthorized',
          'this server needs its token (Authorization: Bearer <token>)',
        );
      }
      if (sameToken(fromQuery, token)) {
        c.header(
          'Set-Cookie',
          `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
        );
      }
    }
    await next();
  };
}
