import { readdir } from 'node:fs/promises';
import { asyncRunStore } from '../../src/store/async-run-store.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDraftBackend } from '../../src/backends/index.js';
import { runPipeline, type PipelineResult } from '../../src/pipeline/orchestrator.js';
import type { ArtifactStore } from '../../src/store/artifact-store.js';
import { openArtifactStore } from '../../src/store/open-artifact-store.js';
import { frameHashes, manifestView } from '../helpers/crash-checks.js';
import { TEST_PANEL_SIZE } from '../helpers/pipeline-harness.js';
import { makeProject } from '../helpers/project-factory.js';
import { createTempWorkspace, quickRetryPolicy, type TempWorkspace } from '../helpers/temp-workspace.js';
import { startS3, type S3Server } from '../support/s3.js';

let s3: S3Server;
let folderWs: TempWorkspace;
let bucketWs: TempWorkspace;
let bucket: ArtifactStore;

beforeAll(async () => {
  s3 = await startS3();
  folderWs = await createTempWorkspace('storycore-s3-folder-');
  bucketWs = await createTempWorkspace('storycore-s3-bucket-');
  bucket = await openArtifactStore(s3.location('studio/artifacts'), {
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
});
afterAll(async () => {
  bucket?.close?.();
  await folderWs?.dispose();
  await bucketWs?.dispose();
  await s3?.stop();
});

const project = makeProject({ shots: 3, width: 160, height: 90 });

function run(ws: TempWorkspace, artifacts: ArtifactStore): Promise<PipelineResult> {
  return runPipeline(project, {
    backend: createDraftBackend(),
    store: asyncRunStore(ws.store().runs),
    artifacts,
    outDir: ws.outDir,
    retryPolicy: quickRetryPolicy(),
    panelSize: TEST_PANEL_SIZE,
  });
}

describe('a draft run whose artifacts are in S3', () => {
  it('makes the same frames and the same export as with a folder, and an unchanged rerun reuses every step', async () => {
    const inFolder = await run(folderWs, folderWs.store().artifacts);
    const inBucket = await run(bucketWs, bucket);
    expect(inFolder.status).toBe('succeeded');
    expect(inBucket.status).toBe('succeeded');

    const frames = (r: PipelineResult): string[][] =>
      r.shots.map((s) => [s.shotId, s.frameSha256, s.promotedSha256]);
    expect(frames(inBucket)).toEqual(frames(inFolder));
    expect(inBucket.sheet.sha256).toBe(inFolder.sheet.sha256);
    // The export copied from the bucket holds the same bytes and says the same things.
    expect(await frameHashes(inBucket.export!.dir)).toEqual(await frameHashes(inFolder.export!.dir));
    expect(await manifestView(inBucket.export!.dir)).toEqual(await manifestView(inFolder.export!.dir));

    // The artifacts are in the bucket, not in the workspace; a bucket has no file paths to report.
    for (const s of inBucket.shots) expect(await bucket.verify(s.frameSha256)).toBe(true);
    expect(await bucket.verify(inBucket.sheet.sha256)).toBe(true);
    expect(await readdir(join(bucketWs.workspace, 'artifacts')).catch(() => [])).toEqual([]);
    expect(inBucket.sheet.path).toBeUndefined();
    expect(inFolder.sheet.path).toBe(folderWs.store().artifacts.localPath(inFolder.sheet.sha256));

    const again = await run(bucketWs, bucket);
    expect(again.status).toBe('succeeded');
    expect(again.executedSteps).toEqual([]);
  });
});
