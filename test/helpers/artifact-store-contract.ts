import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { classifyError } from '../../src/core/error-classify.js';
import {
  CancelledError,
  NotFoundError,
  StoreError,
  ValidationError,
  isStoryCoreError,
} from '../../src/core/errors.js';
import type { ArtifactStore } from '../../src/store/artifact-store.js';

/** One store to test, with access behind its back. */
export interface ArtifactStoreFixture {
  store: ArtifactStore;
  /** Replaces what is stored under `sha` with other bytes, behind the store's back (disk rot, a stray writer). */
  damage(sha: string, bytes: Uint8Array): Promise<void>;
  /** How many objects or files the store holds, temporaries included (so a leftover would show). */
  count(): Promise<number>;
  close(): Promise<void>;
}

export interface ArtifactStoreContract {
  /** A fresh, empty store. */
  open(): Promise<ArtifactStoreFixture>;
  /**
   * A store whose server does not answer (for stores that have one), with the endpoint its errors must name and
   * a secret its errors must never show.
   */
  unreachable?(): Promise<{ store: ArtifactStore; endpoint: string; secret: string }>;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, and it succeeded');
}

/**
 * The artifact seam's contract (see ArtifactStore in src/store/artifact-store.ts), run against every store: the
 * folder in `npm test`, the S3 bucket in `npm run test:distributed`. A new store is proven the same way.
 */
export function describeArtifactStoreContract(name: string, contract: ArtifactStoreContract): void {
  describe(`${name}: the ArtifactStore contract`, () => {
    let fixture: ArtifactStoreFixture;
    let store: ArtifactStore;
    beforeEach(async () => {
      fixture = await contract.open();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.close();
    });

    it('gives back the bytes it stored, under their sha256, with their size', async () => {
      const bytes = randomBytes(100_000);
      const sha = await store.put(bytes);
      expect(sha).toBe(sha256(bytes));
      expect(await store.get(sha)).toEqual(bytes);
      expect(await store.has(sha)).toBe(true);
      expect(await store.sizeOf(sha)).toBe(bytes.length);
      expect(await store.verify(sha)).toBe(true);
      expect(store.urlOf(sha)).toContain(`${sha.slice(0, 2)}/${sha.slice(2)}`);
      expect(store.describe()).not.toBe('');
      // A view into a larger buffer stores only the view's bytes.
      const slice = Buffer.from(randomBytes(64)).subarray(16, 48);
      expect(await store.get(await store.put(slice))).toEqual(Buffer.from(slice));
    });

    it('stores the same bytes twice as one object', async () => {
      const bytes = randomBytes(5000);
      const first = await store.put(bytes);
      const second = await store.put(Buffer.from(bytes));
      expect(second).toBe(first);
      expect(await fixture.count()).toBe(1);
      expect(await store.get(first)).toEqual(bytes);
    });

    it('stores the same bytes put by eight writers at once as one intact object', async () => {
      const bytes = randomBytes(300_000);
      const shas = await Promise.all(Array.from({ length: 8 }, () => store.put(Buffer.from(bytes))));
      expect(new Set(shas)).toEqual(new Set([sha256(bytes)]));
      expect(await fixture.count()).toBe(1);
      expect(await store.verify(shas[0]!)).toBe(true);
    });

    it('answers a missing artifact with NotFoundError naming its sha (and has false, no size, verify false)', async () => {
      const sha = sha256(Buffer.from('never stored'));
      const error = await rejection(store.get(sha));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toContain(sha);
      expect(await store.has(sha)).toBe(false);
      expect(await store.sizeOf(sha)).toBeUndefined();
      expect(await store.verify(sha)).toBe(false);
      expect(await store.removeDamaged([sha])).toEqual([]);
    });

    it('refuses a name that is not a sha256 before touching storage', async () => {
      for (const bad of ['', 'abc', '../../etc/passwd', 'A'.repeat(64), `${'0'.repeat(63)}/`]) {
        expect(await rejection(store.get(bad))).toBeInstanceOf(ValidationError);
      }
    });

    it('never passes damaged bytes for the artifact: verify is false, get fails naming the sha and removes them', async () => {
      const bytes = randomBytes(20_000);
      const sha = await store.put(bytes);
      await fixture.damage(sha, Buffer.alloc(bytes.length, 7)); // same size, other bytes
      expect(await store.verify(sha)).toBe(false);
      const error = await rejection(store.get(sha));
      expect(error).toBeInstanceOf(StoreError);
      expect((error as Error).message).toContain(sha);
      expect(await store.has(sha)).toBe(false);
      // Unverified reads are the caller's choice (a hash computed elsewhere): they return what is there.
      await store.put(bytes);
      await fixture.damage(sha, Buffer.alloc(bytes.length, 9));
      expect(await store.get(sha, { verify: false })).toEqual(Buffer.alloc(bytes.length, 9));
    });

    it('removeDamaged removes exactly the damaged artifacts and names them', async () => {
      const intact = await store.put(randomBytes(1000));
      const bytes = randomBytes(1000);
      const damaged = await store.put(bytes);
      const missing = sha256(Buffer.from('missing'));
      await fixture.damage(damaged, randomBytes(10));
      expect(await store.removeDamaged([intact, damaged, missing, damaged])).toEqual([damaged]);
      expect(await store.has(damaged)).toBe(false);
      expect(await store.verify(intact)).toBe(true);
      expect(await fixture.count()).toBe(1);
    });

    it('heals a damaged artifact when the same bytes are put again', async () => {
      const bytes = randomBytes(4096);
      const sha = await store.put(bytes);
      await fixture.damage(sha, Buffer.alloc(bytes.length, 1));
      expect(await store.put(bytes)).toBe(sha);
      expect(await store.get(sha)).toEqual(bytes);
    });

    it('honours an aborted signal: CancelledError, and nothing is left stored', async () => {
      const bytes = randomBytes(2_000_000);
      const sha = sha256(bytes);
      const before = new AbortController();
      before.abort();
      expect(await rejection(store.put(bytes, { signal: before.signal }))).toBeInstanceOf(CancelledError);
      expect(await rejection(store.get(sha, { signal: before.signal }))).toBeInstanceOf(CancelledError);

      // Aborted while the call is under way (after its first await).
      const during = new AbortController();
      const putting = store.put(bytes, { signal: during.signal });
      during.abort();
      expect(await rejection(putting)).toBeInstanceOf(CancelledError);
      expect(await store.has(sha)).toBe(false);
      expect(await fixture.count()).toBe(0);

      await store.put(bytes);
      const reading = new AbortController();
      const getting = store.get(sha, { signal: reading.signal });
      reading.abort();
      expect(await rejection(getting)).toBeInstanceOf(CancelledError);
      const verifying = new AbortController();
      const checking = store.verify(sha, { signal: verifying.signal });
      verifying.abort();
      expect(await rejection(checking)).toBeInstanceOf(CancelledError);
      expect(await store.verify(sha)).toBe(true);
    });

    if (contract.unreachable) {
      const unreachable = contract.unreachable.bind(contract);
      it('fails with a retryable StoreError naming the endpoint, never the credentials, when the server is down', async () => {
        const down = await unreachable();
        try {
          const sha = sha256(Buffer.from('x'));
          for (const call of [
            () => down.store.put(Buffer.from('x')),
            () => down.store.get(sha),
            () => down.store.has(sha),
            () => down.store.verify(sha),
          ]) {
            const error = await rejection(call());
            expect(error).toBeInstanceOf(StoreError);
            expect(isStoryCoreError(error) && error.retryable).toBe(true);
            expect(classifyError(error).retryable).toBe(true);
            const message = (error as Error).message;
            expect(message).toContain(down.endpoint);
            expect(message).not.toContain(down.secret);
            expect(JSON.stringify((error as StoreError).details)).not.toContain(down.secret);
          }
        } finally {
          down.store.close?.();
        }
      });
    }
  });
}
