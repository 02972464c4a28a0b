/**
 * A queue worker in a process of its own, for the crash tests: the parent `kill -9`s it mid-job. Each execution
 * is appended to a log (`<jobId> <pid> <epoch ms>`) before the work starts, so the parent counts executions even
 * of a process that never finished. Says READY once the worker is connected and ACTIVE <jobId> as a job starts.
 * Usage: node --import tsx queue-worker-child.ts <queue url> <queue name> <log file> <lockDurationMs> <stalledIntervalMs>
 */
import { appendFileSync, writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { openQueueConnection } from '../../src/distributed/queue/index.js';

const [url, name, log, lockDuration, stalledInterval] = process.argv.slice(2);
if (!url || !name || !log || !lockDuration || !stalledInterval) {
  throw new Error('usage: queue-worker-child.ts <url> <queue> <log> <lockDurationMs> <stalledIntervalMs>');
}
const connection = await openQueueConnection(url);
const worker = connection.worker<{ ms: number }, { pid: number }>(
  name,
  async (job) => {
    appendFileSync(log, `${job.id} ${process.pid} ${Date.now()}\n`);
    writeSync(1, `ACTIVE ${job.id}\n`);
    await delay(job.data.ms);
    return { pid: process.pid };
  },
  { lockDuration: Number(lockDuration), stalledInterval: Number(stalledInterval), concurrency: 1 },
);
await worker.waitUntilReady();
writeSync(1, 'READY\n');
process.on('SIGTERM', () => void connection.close().then(() => process.exit(0)));
