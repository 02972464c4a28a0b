import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import type { Context } from 'hono';
import { isInside } from '../core/safe-path.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * Serves the built web UI from `root`; any path that is not a file is the single-page app's index. Paths are
 * decoded and normalised, then must stay inside `root` (`/../../etc/passwd` gets the index, never the file).
 */
export async function serveWeb(c: Context, root: string): Promise<Response> {
  let path: string;
  try {
    path = decodeURIComponent(new URL(c.req.url).pathname);
  } catch {
    path = '/';
  }
  const candidate = normalize(join(root, path));
  const file = isInside(root, candidate) && (await isFile(candidate)) ? candidate : join(root, 'index.html');
  const body = await readFile(file).catch(() => undefined);
  if (!body) {
    return c.text('the web UI is not built: run `npm run build` (npm ci runs it)', 503);
  }
  const hashed = file.includes(`${join(root, 'assets')}`);
  // c.body, not a bare Response: headers set earlier on the context (the token cookie) must reach the browser.
  return c.body(new Uint8Array(body), 200, {
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
    // Vite names assets by content hash; index.html must be re-read to see a new build.
    'Cache-Control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
