import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { COMPILED_MAIN, REPO_ROOT, newestSourceChange } from './helpers/cli.js';

/**
 * The CLI and crash tests spawn the compiled CLI (bin/storycore.js → dist/). A dist/ older than src/ would have
 * them check stale code while passing, so every test run first rebuilds it when any source file changed since.
 */
export default function buildIfStale(): void {
  const built = safeMtime(COMPILED_MAIN);
  if (built !== undefined && built >= newestSourceChange()) return;
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
