import { describe, expect, it } from 'vitest';
import type { GenerationRequest } from '../src/backends/types.js';
import { BackendRejectedError, BackendUnreachableError, CancelledError } from '../src/core/errors.js';
import { runBackendSuite } from './backends/backend-contract.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';

// The pipeline tests' double is only as good as its honesty: without faults it must pass the same contract as
// every real backend, and with them fail the way a real one does.
runBackendSuite('fault-injecting backend with no faults armed', async () => ({
  backend: new FaultInjectingBackend(),
  cleanup: async () => {},
}));

const request: GenerationRequest = {
  prompt: 'a keeper climbs the spiral stairs of the lighthouse',
  width: 96,
  height: 64,
  seed: 42,
  purpose: 'shot',
  label: 'shot-01',
};

describe('the fault-injecting backend', () => {
  it('fails the chosen shot with the engine’s own error classes, keeping the root cause', async () => {
    const backend = new FaultInjectingBackend()
      .failShot('shot-01', { kind: 'rejected' })
      .failShot('shot-02', { kind: 'unreachable', rootCause: 'socket hang up' });

    const rejected = await backend.generate(request).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(BackendRejectedError);
    expect((rejected as BackendRejectedError).retryable).toBe(false);
    expect(((rejected as Error).cause as Error).message).toContain('KSampler');
    const unreachable = await backend.generate({ ...request, label: 'shot-02' }).catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(BackendUnreachableError);
    expect(((unreachable as Error).cause as Error).message).toBe('socket hang up');
    const fine = await backend.generate({ ...request, label: 'shot-03' });
    expect(fine.raster.width).toBe(96);
  });

  it('fails only the first N calls when told how many times, then draws for real', async () => {
    const backend = new FaultInjectingBackend().failShot('shot-01', { kind: 'unreachable', times: 2 });
    for (let i = 0; i < 2; i++)
      await expect(backend.generate(request)).rejects.toBeInstanceOf(BackendUnreachableError);
    await expect(backend.generate(request)).resolves.toMatchObject({
      metadata: { backend: 'draft', draft: true },
    });
    expect(backend.callsFor('shot-01').map((c) => [c.attempt, c.outcome])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'ok'],
    ]);
  });

  it('hangs until the signal aborts, then rejects with CancelledError', async () => {
    const backend = new FaultInjectingBackend().failShot('shot-01', { kind: 'hang' });
    const controller = new AbortController();
    const pending = backend.generate(request, { signal: controller.signal });
    let settled = false;
    void pending.catch(() => {}).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    expect(backend.calls[0]?.outcome).toBe('cancelled');
  });

  it('forgets every fault on clearFailures()', async () => {
    const backend = new FaultInjectingBackend().setFailureStage('comfyui').clearFailures();
    await expect(backend.generate(request)).resolves.toBeDefined();
  });
});
