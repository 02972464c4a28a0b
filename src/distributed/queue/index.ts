export { openQueueConnection, DEFAULT_QUEUE_NAMESPACE } from './queue-connection.js';
export type {
  JobFlowProducer,
  JobFlowProducerOptions,
  JobProcessor,
  JobQueue,
  JobQueueEvents,
  JobQueueEventsOptions,
  JobQueueOptions,
  JobWorker,
  JobWorkerOptions,
  OpenQueueConnectionOptions,
  QueueConnection,
} from './queue-connection.js';
export { parseQueueUrl } from './queue-url.js';
export type { QueueBackendKind, QueueLocation } from './queue-url.js';
export { childValuesById, stepJobId } from './job-ids.js';
