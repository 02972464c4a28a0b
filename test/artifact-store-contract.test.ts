import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from '../src/store/local-artifact-store.js';
import { describeArtifactStoreContract } from './helpers/artifact-store-contract.js';

// The folder store (local, or a shared NFS folder: the same class). The S3 store runs the same suite in
// test/distributed/s3-artifact-store.test.ts.
describeArtifactStoreContract('LocalArtifactStore', {
  open: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'storycore-artifact-contract-'));
    const store = new LocalArtifactStore(join(dir, 'artifacts'));
    return {
      store,
      damage: (sha, bytes) => writeFile(store.localPath(sha), bytes),
      count: async () => {
        const entries = await readdir(store.root, { recursive: true, withFileTypes: true }).catch(() => []);
        return entries.filter((e) => e.isFile()).length;
      },
      close: () => rm(dir, { recursive: true, force: true }),
    };
  },
});
