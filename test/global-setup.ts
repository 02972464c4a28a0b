import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { COMPILED_MAIN, REPO_ROOT, newestSourceChange } from './helpers/cli.js';

/**
 * The CLI and crash tests spawn the compiled CLI (bin/storycore.js → dist/). A dist/ older than src/ would have
 * them check stale code while passing, so every test run first rebuilds it when any source file changed since.
 */
export default function buildIfStale(): void {
  const built = safeMtime(COMPILED_MAIN);
  // The studio's browser tests load the built web UI, and it bundles modules of src/ too.
  const web = safeMtime(join(REPO_ROOT, 'dist', 'web', 'index.html'));
  const fresh = (mtime: number | undefined, ...sources: number[]): boolean =>
    mtime !== undefined && sources.every((s) => mtime >= s);
  const src = newestSourceChange();
  if (fresh(built, src) && fresh(web, src, newestSourceChange(join(REPO_ROOT, 'web')))) return;
  // `npm run build`: dist/ emptied first (stale outputs of moved sources), then tsc.
  const build = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    throw new Error(`npm run build failed before the tests:\n${build.stdout}${build.stderr}`);
  }
}

function safeMtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
