import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, StoreError, ValidationError } from '../../src/core/errors.js';
import type { ArtifactStore } from '../../src/store/artifact-store.js';
import { openArtifactStore, parseS3Location } from '../../src/store/open-artifact-store.js';
import { LocalArtifactStore } from '../../src/store/local-artifact-store.js';
import { S3ArtifactStore } from '../../src/store/s3-artifact-store.js';
import { describeArtifactStoreContract } from '../helpers/artifact-store-contract.js';
import { deadEndpoint, startS3, type S3Server } from '../support/s3.js';

let s3: S3Server;
let raw: S3Client;
let prefixes = 0;

beforeAll(async () => {
  s3 = await startS3();
  // Behind the store's back: the test's own client, to damage and count objects.
  raw = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
});
afterAll(async () => {
  raw?.destroy();
  await s3?.stop();
});

const credentials = (): { accessKeyId: string; secretAccessKey: string } => ({
  accessKeyId: s3.accessKeyId,
  secretAccessKey: s3.secretAccessKey,
});

describeArtifactStoreContract('S3ArtifactStore (s3rver)', {
  open: async () => {
    // A prefix per test: one bucket, fresh and empty stores.
    const prefix = `contract/${++prefixes}`;
    const store = (await openArtifactStore(s3.location(prefix), {
      credentials: credentials(),
    })) as S3ArtifactStore;
    return {
      store,
      damage: async (sha, bytes) => {
        await raw.send(
          new PutObjectCommand({
            Bucket: s3.bucket,
            Key: `${prefix}/${sha.slice(0, 2)}/${sha.slice(2)}`,
            Body: bytes,
          }),
        );
      },
      count: async () => {
        const listed = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
        return listed.KeyCount ?? 0;
      },
      close: async () => store.close(),
    };
  },
  unreachable: async () => {
    const endpoint = await deadEndpoint();
    const secret = 'do-not-print-this-secret';
    const store = await S3ArtifactStore.open({
      bucket: 'anything',
      prefix: 'p',
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret },
      maxAttempts: 2,
    });
    return { store, endpoint, secret };
  },
});

describe('S3ArtifactStore', () => {
  it('keeps artifacts under <prefix>/ab/cdef…, named by s3:// urls', async () => {
    const store = await S3ArtifactStore.open({
      ...parseS3Location(s3.location('layout')),
      credentials: credentials(),
    });
    try {
      const bytes = randomBytes(1000);
      const sha = await store.put(bytes);
      const listed = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'layout/' }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual([`layout/${sha.slice(0, 2)}/${sha.slice(2)}`]);
      expect(store.urlOf(sha)).toBe(`s3://${s3.bucket}/layout/${sha.slice(0, 2)}/${sha.slice(2)}`);
      expect(store.describe()).toBe(`s3://${s3.bucket}/layout at ${s3.endpoint}`);
      expect((store as ArtifactStore).localPath).toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('names a missing bucket plainly, and it is not retried', async () => {
    const store = await openArtifactStore(
      s3.location('x').replace(`s3://${s3.bucket}/`, 's3://no-such-bucket/'),
      {
        credentials: credentials(),
      },
    );
    try {
      const error = await store.put(Buffer.from('x')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toContain('bucket "no-such-bucket" does not exist');
      expect((error as StoreError).retryable).toBe(false);
      expect(await (store as S3ArtifactStore).check().catch((e: unknown) => e)).toBeInstanceOf(StoreError);
    } finally {
      store.close?.();
    }
  });

  it('says the credentials were refused without showing them', async () => {
    const secret = 'wrong-secret-never-shown';
    const store = await openArtifactStore(s3.location('auth'), {
      // s3rver checks the key id, not v4 signatures: an unknown key is how it refuses credentials.
      credentials: { accessKeyId: 'NOT-AN-ACCOUNT', secretAccessKey: secret },
    });
    try {
      const error = await store.get('0'.repeat(64)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).toMatch(/refused the credentials/);
      expect((error as Error).message).not.toContain(secret);
    } finally {
      store.close?.();
    }
  });

  it('a missing artifact is a NotFoundError naming its s3:// url', async () => {
    const store = await openArtifactStore(s3.location('missing'), { credentials: credentials() });
    try {
      const sha = 'f'.repeat(64);
      const error = await store.get(sha).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toContain(`s3://${s3.bucket}/missing/ff/`);
    } finally {
      store.close?.();
    }
  });
});

describe('S3ArtifactStore when its endpoint is killed', () => {
  it('fails retryably naming the endpoint while it is down, and carries on with the same data once it is back', async () => {
    const store = await openArtifactStore(s3.location('kill'), {
      credentials: credentials(),
      maxAttempts: 1,
    });
    try {
      const kept = await store.put(randomBytes(2000));
      await s3.kill();
      const error = await store.put(randomBytes(10)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).retryable).toBe(true);
      expect((error as Error).message).toContain(s3.endpoint);
      await s3.restart();
      expect(await store.verify(kept)).toBe(true);
      const fresh = await store.put(randomBytes(10));
      expect(await store.has(fresh)).toBe(true);
    } finally {
      store.close?.();
    }
  });
});

describe('openArtifactStore', () => {
  it('opens a folder for a path or a file:// URL, and a bucket for s3://', async () => {
    expect(await openArtifactStore('rel/dir', { cwd: '/srv' })).toEqual(
      new LocalArtifactStore('/srv/rel/dir'),
    );
    expect(await openArtifactStore('file:///srv/artifacts')).toEqual(
      new LocalArtifactStore('/srv/artifacts'),
    );
    expect(
      parseS3Location(
        's3://bucket-1/a/b/?endpoint=http://127.0.0.1:9000&region=eu-west-3&forcePathStyle=true',
      ),
    ).toEqual({
      bucket: 'bucket-1',
      prefix: 'a/b',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-3',
      forcePathStyle: true,
    });
    expect(parseS3Location('s3://bucket-1')).toEqual({ bucket: 'bucket-1' });
  });

  it('refuses what it cannot use, saying where', async () => {
    const issues = async (location: string): Promise<string> => {
      const error = await openArtifactStore(location).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      return JSON.stringify((error as ValidationError).issues) + (error as Error).message;
    };
    expect(await issues('gs://bucket/x')).toContain('unsupported artifact store');
    expect(await issues('s3://b/x?forcepathstyle=true')).toContain('artifacts.forcepathstyle');
    expect(await issues('s3://b/x?forcePathStyle=yes')).toContain('expected true or false');
    expect(await issues('s3://Bad_Bucket/x')).toContain('invalid S3 bucket name');
    expect(await issues('s3://bucket/x?endpoint=ftp://h')).toContain('expected an http:// or https:// URL');
    const withSecret = await issues('s3://key:hunter2@bucket/x');
    expect(withSecret).toContain('must not carry credentials');
    expect(withSecret).not.toContain('hunter2');
    expect(await issues('s3://bucket/x?endpoint=http://key:hunter2@127.0.0.1:1')).not.toContain('hunter2');
  });
});
