import type {
  BackendFactory,
  FlowProducer,
  FlowProducerOptions,
  IQueueBackend,
  JobProgress,
  Processor,
  Queue,
  QueueEvents,
  QueueEventsOptions,
  QueueOptions,
  Worker,
  WorkerOptions,
} from 'bullmq';
import type * as bullmqTypes from 'bullmq';
import { throwIfAborted } from '../../core/abort.js';
import { classifyError } from '../../core/error-classify.js';
import {
  InternalError,
  ValidationError,
  errorMessage,
  isCancellation,
  type StoryCoreError,
} from '../../core/errors.js';
import { queueServerError } from './queue-errors.js';
import { parseQueueUrl, type QueueBackendKind, type QueueLocation } from './queue-url.js';

/**
 * The queue seam: one URL picks where BullMQ keeps its jobs — PostgreSQL (BullMQ's own PostgreSQL backend, the
 * default for a studio that already runs one) or Redis — and the runner builds its `Queue`, `Worker`,
 * `FlowProducer` and `QueueEvents` through this object without knowing which. bullmq, pg and ioredis are imported
 * only when a connection is opened, so commands that never touch a queue never load them.
 */

/** A BullMQ queue on whichever backend the connection is bound to. */
export type JobQueue<D = unknown, R = unknown> = Queue<D, R, string, D, R, string, IQueueBackend, unknown>;
export type JobWorker<D = unknown, R = unknown> = Worker<D, R, string, IQueueBackend, JobProgress, unknown>;
export type JobQueueEvents<R = unknown> = QueueEvents<R, IQueueBackend, unknown>;
export type JobFlowProducer = FlowProducer<IQueueBackend, unknown>;
/** A processor function, or the path/URL of a module run in a sandboxed child process (BullMQ's sandboxing). */
export type JobProcessor<D = unknown, R = unknown> = Processor<D, R> | string | URL;

// `connection` and `prefix` are the connection's business: every instance of one connection shares them.
export type JobQueueOptions = Omit<QueueOptions, 'connection' | 'prefix'>;
export type JobWorkerOptions = Omit<WorkerOptions, 'connection' | 'prefix'>;
export type JobQueueEventsOptions = Omit<QueueEventsOptions, 'connection' | 'prefix'>;
export type JobFlowProducerOptions = Omit<FlowProducerOptions, 'connection' | 'prefix'>;

/** The bullmq module's shape (types only: the module itself is loaded by the backend modules, on open). */
type BullMq = typeof bullmqTypes;

/**
 * How long a worker whose fetch failed (its queue server restarting) waits before trying again. BullMQ's 15 s
 * is felt on PostgreSQL, where a failed query is that wait (on Redis, ioredis' own reconnect hides it): measured
 * in the restart contract test, 17.6 s to finish after a PostgreSQL restart at 15 s, 3–8 s at 1 s.
 */
const WORKER_RUN_RETRY_DELAY_MS = 1_000;

/** The default namespace: the PostgreSQL schema, or the Redis key prefix, all our queues live under. */
export const DEFAULT_QUEUE_NAMESPACE = 'storycore_queue';

export interface OpenQueueConnectionOptions {
  signal?: AbortSignal;
  /**
   * Where the queues live on the server: the PostgreSQL schema (created and migrated on open) or the Redis key
   * prefix. Two studios can share one server under two namespaces.
   * @default 'storycore_queue'
   */
  namespace?: string;
  /**
   * How long one connection attempt may take before it counts as unreachable.
   * @default 10_000
   */
  connectTimeoutMs?: number;
  /**
   * Told about every connection error an instance reports while it reconnects on its own (a server restart, a
   * dropped socket), already in our error hierarchy. BullMQ instances retry by themselves; without this hook the
   * errors are only absorbed (an unlistened `'error'` event would crash the process).
   * @default ignore
   */
  onError?: (error: StoryCoreError | Error, source: string) => void;
}

export interface QueueConnection {
  readonly kind: QueueBackendKind;
  readonly namespace: string;
  /** The server for messages: `postgres://user@host:5432/db (schema storycore_queue)`, never a password. */
  describe(): string;
  queue<D = unknown, R = unknown>(name: string, options?: JobQueueOptions): JobQueue<D, R>;
  worker<D = unknown, R = unknown>(
    name: string,
    processor: JobProcessor<D, R>,
    options?: JobWorkerOptions,
  ): JobWorker<D, R>;
  flow(options?: JobFlowProducerOptions): JobFlowProducer;
  events<R = unknown>(name: string, options?: JobQueueEventsOptions): JobQueueEvents<R>;
  /** Closes every instance it made (workers first, letting their active jobs finish), then its own clients. */
  close(): Promise<void>;
}

/** What a backend module hands back once its server answered: how to build instances bound to it. */
export interface QueueBinding {
  /** The bullmq module, loaded by the backend module (so this file needs it only for types). */
  bullmq: BullMq;
  /** Builds the backend of each instance: BullMQ's PostgreSQL or Redis factory. */
  factory: BackendFactory<IQueueBackend, unknown>;
  /** The `connection` (and, on Redis, `prefix`) every instance gets. */
  instanceOptions: { connection: unknown; prefix?: string };
  describe: string;
  /** Closes what the binding itself opened (nothing, for both backends today). */
  close(): Promise<void>;
}

export interface BindOptions {
  namespace: string;
  connectTimeoutMs: number;
  signal: AbortSignal | undefined;
}

/**
 * Opens a connection to the queue server named by `url`: checks that it answers (and, on PostgreSQL, creates or
 * migrates the schema; on Redis, refuses a server that may evict keys). A server that does not answer is a
 * retryable `StoreError` naming it; a bad URL is a `ValidationError`.
 */
export async function openQueueConnection(
  url: string,
  options: OpenQueueConnectionOptions = {},
): Promise<QueueConnection> {
  const location = parseQueueUrl(url);
  const namespace = options.namespace ?? DEFAULT_QUEUE_NAMESPACE;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(namespace)) {
    // A schema name must be a plain identifier (quoting rules would differ between servers otherwise).
    const message = `queue namespace "${namespace}" must be lowercase letters, digits and _ (at most 63), starting with a letter or _`;
    throw new ValidationError(message, [{ path: 'namespace', message }]);
  }
  throwIfAborted(options.signal);
  const bindOptions: BindOptions = {
    namespace,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    signal: options.signal,
  };
  const binding =
    location.kind === 'postgres'
      ? await (await import('./postgres-binding.js')).bindPostgres(location, bindOptions)
      : await (await import('./redis-binding.js')).bindRedis(location, bindOptions);
  return new BullQueueConnection(location, namespace, binding, options.onError);
}

interface Closable {
  close(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

class BullQueueConnection implements QueueConnection {
  readonly kind: QueueBackendKind;
  readonly namespace: string;
  // Workers close first (their active jobs finish and are completed through their own connections), then the rest.
  readonly #workers = new Set<Closable>();
  readonly #others = new Set<Closable>();
  #closing: Promise<void> | undefined;

  constructor(
    location: QueueLocation,
    namespace: string,
    private readonly binding: QueueBinding,
    private readonly onError: OpenQueueConnectionOptions['onError'],
  ) {
    this.kind = location.kind;
    this.namespace = namespace;
  }

  describe(): string {
    return this.binding.describe;
  }

  queue<D = unknown, R = unknown>(name: string, options: JobQueueOptions = {}): JobQueue<D, R> {
    this.#assertOpen();
    const { bullmq, factory, instanceOptions } = this.binding;
    const queue = new bullmq.Queue<D, R, string, D, R, string, IQueueBackend, unknown>(
      name,
      { ...options, ...instanceOptions },
      factory,
    );
    return this.#track(queue, `queue ${name}`, this.#others);
  }

  worker<D = unknown, R = unknown>(
    name: string,
    processor: JobProcessor<D, R>,
    options: JobWorkerOptions = {},
  ): JobWorker<D, R> {
    this.#assertOpen();
    const { bullmq, factory, instanceOptions } = this.binding;
    const worker = new bullmq.Worker<D, R, string, IQueueBackend, JobProgress, unknown>(
      name,
      typeof processor === 'function' ? finalOnPermanentFailure(bullmq, processor) : processor,
      { runRetryDelay: WORKER_RUN_RETRY_DELAY_MS, ...options, ...instanceOptions },
      factory,
    );
    return this.#track(worker, `worker ${name}`, this.#workers);
  }

  flow(options: JobFlowProducerOptions = {}): JobFlowProducer {
    this.#assertOpen();
    const { bullmq, factory, instanceOptions } = this.binding;
    const flow = new bullmq.FlowProducer<IQueueBackend, unknown>({ ...options, ...instanceOptions }, factory);
    return this.#track(flow, 'flow producer', this.#others);
  }

  events<R = unknown>(name: string, options: JobQueueEventsOptions = {}): JobQueueEvents<R> {
    this.#assertOpen();
    const { bullmq, factory, instanceOptions } = this.binding;
    const events = new bullmq.QueueEvents<R, IQueueBackend, unknown>(
      name,
      { ...options, ...instanceOptions },
      factory,
    );
    return this.#track(events, `queue events ${name}`, this.#others);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const settle = async (set: Set<Closable>): Promise<void> => {
        await Promise.allSettled([...set].map((instance) => instance.close()));
        set.clear();
      };
      await settle(this.#workers);
      await settle(this.#others);
      await this.binding.close();
    })();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing) throw new InternalError(`queue connection ${this.describe()} is closed`);
  }

  #track<T extends Closable>(instance: T, source: string, set: Set<Closable>): T {
    set.add(instance);
    // An EventEmitter throws on an 'error' nobody listens to: that would turn a server restart (which BullMQ
    // rides out by reconnecting) into a crashed worker. Errors go to onError, in our hierarchy, instead.
    instance.on('error', (error: Error) => {
      const wrapped = queueServerError(error, this.describe(), `running ${source} on`);
      this.onError?.(wrapped as StoryCoreError | Error, source);
    });
    return instance;
  }
}

/**
 * The error decides whether a job is retried, as it does for a step: a failure our classification calls
 * permanent (a ValidationError, a rejected request, an unrecognised error) becomes BullMQ's `UnrecoverableError`,
 * so the job fails at once whatever its `attempts`; a retryable one is thrown as is and retried with the job's
 * `backoff`. Cancellations (a worker closing, a lost lock) and BullMQ's own control-flow errors pass through.
 * A sandboxed processor (a file) decides for itself by throwing `UnrecoverableError`.
 */
function finalOnPermanentFailure<D, R>(bullmq: BullMq, processor: Processor<D, R>): Processor<D, R> {
  const control = [
    bullmq.UnrecoverableError,
    bullmq.DelayedError,
    bullmq.WaitingChildrenError,
    bullmq.WaitingError,
    bullmq.RateLimitError,
  ];
  // Three declared parameters: BullMQ passes the abort signal only to processors whose length says they take it.
  return async (job, token, signal) => {
    try {
      return await processor(job, token, signal);
    } catch (error) {
      if (control.some((type) => error instanceof type) || isCancellation(error)) throw error;
      const verdict = classifyError(error);
      if (verdict.retryable) throw error;
      const final = new bullmq.UnrecoverableError(errorMessage(error));
      (final as { cause?: unknown }).cause = error;
      throw final;
    }
  };
}
