// Empties dist/ before a build: tsc never deletes outputs of sources that were removed or moved, and `npm pack`
// would ship those stale files (and source maps pointing at sources that no longer exist).
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'), { recursive: true, force: true });
