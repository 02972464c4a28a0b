import { cancellationFrom, throwIfAborted } from '../../src/core/abort.js';
import { BackendRejectedError, BackendUnreachableError, isCancellation } from '../../src/core/errors.js';
import { createDraftBackend } from '../../src/backends/draft/index.js';
import type {
  GenerateOptions,
  GeneratedImage,
  GenerationPurpose,
  GenerationRequest,
  ImageBackend,
} from '../../src/backends/types.js';

/**
 * What goes wrong with a matching request:
 * - `unreachable`: BackendUnreachableError (retryable, like a refused connection);
 * - `rejected`: BackendRejectedError (permanent, like a ComfyUI node_errors reply);
 * - `hang`: never answers, until the caller's signal aborts (then CancelledError, as every backend must). With
 *   `chatter`, it reports progress every 10 ms meanwhile, and one last report lands just after the abort, the way
 *   a websocket message already in flight does: the pipeline must keep that from its caller.
 * `times` limits the fault to the first N matching calls (later calls reach the real renderer).
 */
export type Fault =
  | { kind: 'unreachable' | 'rejected'; times?: number; rootCause?: string }
  | { kind: 'hang'; times?: number; chatter?: boolean };

export interface FaultRule {
  /** Shot id / panel label the rule applies to; any when absent. */
  label?: string;
  /** Request purpose the rule applies to; any when absent. */
  purpose?: GenerationPurpose;
  fault: Fault;
}

export interface BackendCall {
  label: string | undefined;
  purpose: GenerationPurpose;
  seed: number;
  /** 1-based count of calls with this label and purpose so far. */
  attempt: number;
  startedAt: number;
  settledAt?: number;
  outcome: 'running' | 'ok' | 'failed' | 'cancelled';
}

/** The note's stage names mapped onto what a backend sees: the grid is sheet panels, 'comfyui' is the shots. */
const STAGE_PURPOSE = { grid: 'sheet-panel', comfyui: 'shot' } as const;

/**
 * A test double at the backend seam: the real draft renderer behind an ImageBackend that fails on chosen
 * requests with the engine's real error classes, or hangs until aborted. Name and version are the inner
 * backend's, so step input hashes match a plain draft run and a rerun "after the fault is gone" reuses work.
 */
export class FaultInjectingBackend implements ImageBackend {
  readonly name: string;
  readonly version: string;
  readonly capacity: number;
  readonly canRegenerate: boolean;
  readonly calls: BackendCall[] = [];
  private rules: Array<FaultRule & { used: number }> = [];
  private readonly counts = new Map<string, number>();

  constructor(private readonly inner: ImageBackend = createDraftBackend({ capacity: 2 })) {
    this.name = inner.name;
    this.version = inner.version;
    this.capacity = inner.capacity;
    this.canRegenerate = inner.canRegenerate;
  }

  /** Adds a fault; the newest matching rule wins. */
  inject(rule: FaultRule): this {
    this.rules.unshift({ ...rule, used: 0 });
    return this;
  }

  /** Fails (or hangs) the generation of one shot. */
  failShot(shotId: string, fault: Fault): this {
    return this.inject({ label: shotId, purpose: 'shot', fault });
  }

  /** The note's `mockBackendApi.setFailureStage`: every request of that stage fails permanently. */
  setFailureStage(stage: keyof typeof STAGE_PURPOSE, fault: Fault = { kind: 'rejected' }): this {
    return this.inject({ purpose: STAGE_PURPOSE[stage], fault });
  }

  /** The note's `mockBackendApi.clearFailures`. */
  clearFailures(): this {
    this.rules = [];
    return this;
  }

  /** Calls made for a label (shot id or `panel-N`), optionally of one purpose. */
  callsFor(label: string, purpose?: GenerationPurpose): BackendCall[] {
    return this.calls.filter((c) => c.label === label && (purpose === undefined || c.purpose === purpose));
  }

  async generate(request: GenerationRequest, options: GenerateOptions = {}): Promise<GeneratedImage> {
    const key = `${request.purpose}\u0000${request.label ?? ''}`;
    const attempt = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, attempt);
    const call: BackendCall = {
      label: request.label,
      purpose: request.purpose,
      seed: request.seed,
      attempt,
      startedAt: performance.now(),
      outcome: 'running',
    };
    this.calls.push(call);
    try {
      throwIfAborted(options.signal);
      const rule = this.rules.find(
        (r) =>
          (r.label === undefined || r.label === request.label) &&
          (r.purpose === undefined || r.purpose === request.purpose) &&
          (r.fault.times === undefined || r.used < r.fault.times),
      );
      let image: GeneratedImage;
      if (rule) {
        rule.used += 1;
        image = await this.fail(rule.fault, request, options);
      } else {
        image = await this.inner.generate(request, options);
      }
      call.outcome = 'ok';
      return image;
    } catch (error) {
      call.outcome = isCancellation(error) ? 'cancelled' : 'failed';
      throw error;
    } finally {
      call.settledAt = performance.now();
    }
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }

  private fail(
    fault: Fault,
    request: GenerationRequest,
    { signal, onProgress }: GenerateOptions,
  ): Promise<never> {
    const where = { details: { label: request.label, purpose: request.purpose } };
    switch (fault.kind) {
      case 'unreachable':
        return Promise.reject(
          new BackendUnreachableError(
            `backend unreachable while generating ${request.label ?? request.purpose}`,
            {
              ...where,
              cause: new Error(fault.rootCause ?? 'connect ECONNREFUSED 127.0.0.1:8188'),
            },
          ),
        );
      case 'rejected':
        return Promise.reject(
          new BackendRejectedError(`backend rejected the request for ${request.label ?? request.purpose}`, {
            ...where,
            status: 400,
            cause: new Error(fault.rootCause ?? 'node 3 (KSampler): value not in list: sampler_name'),
          }),
        );
      case 'hang':
        // A hung server: nothing happens until the caller gives up. Without a signal this never settles.
        return new Promise<never>((_, reject) => {
          let ticks = 0;
          const timer = fault.chatter
            ? setInterval(
                () => onProgress?.({ fraction: Math.min(0.9, ++ticks * 0.05), message: 'waiting in queue' }),
                10,
              )
            : undefined;
          signal?.addEventListener(
            'abort',
            () => {
              clearInterval(timer);
              // Delivered inside the abort dispatch, before the run can settle: the pipeline's own guard must hold it.
              if (fault.chatter) onProgress?.({ fraction: 0.95, message: 'late message' });
              reject(cancellationFrom(signal));
            },
            { once: true },
          );
        });
    }
  }
}
