import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVER_SCRIPT = fileURLToPath(new URL('./s3-server.mjs', import.meta.url));

export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  region: string;
  /** s3rver's built-in account (not a secret: it exists only on this loopback server). */
  accessKeyId: string;
  secretAccessKey: string;
  /** The server's data folder (each object under `<bucket>/<key>._S3rver_object`). */
  directory: string;
  /** AWS_* variables that point a child process's SDK at this server's account. */
  env: Record<string, string>;
  /** `s3://<bucket>/<prefix>?endpoint=…&region=…&forcePathStyle=true`: what `openArtifactStore` and the CLI take. */
  location(prefix?: string): string;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
  /** `kill -9`: the endpoint goes away mid-whatever; the data stays for `restart`. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data (after `kill`). */
  restart(): Promise<void>;
}

export interface StartS3Options {
  /** @default 'storycore-test' */
  bucket?: string;
}

/**
 * A throw-away S3 endpoint: s3rver (npm) in a child process on 127.0.0.1 and a free port, data in a temp folder,
 * one bucket created. Every test file starts its own and stops it in afterAll.
 */
export async function startS3(options: StartS3Options = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'storycore-test';
  const directory = await mkdtemp(join(tmpdir(), 'storycore-s3-'));
  let child: ChildProcess | undefined;
  let port = 0;
  try {
    ({ child, port } = await launch(directory, 0, bucket));
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const accessKeyId = 'S3RVER';
  const secretAccessKey = 'S3RVER';
  const region = 'us-east-1';
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    await exited;
  };
  return {
    endpoint,
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    directory,
    env: {
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_REGION: region,
    },
    location: (prefix = '') =>
      `s3://${bucket}/${prefix}?${new URLSearchParams({ endpoint, region, forcePathStyle: 'true' }).toString()}`,
    stop: async () => {
      await end('SIGTERM');
      await rm(directory, { recursive: true, force: true });
    },
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGKILL');
      ({ child } = await launch(directory, port, bucket));
    },
  };
}

async function launch(
  directory: string,
  port: number,
  bucket: string,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [SERVER_SCRIPT, directory, String(port), bucket], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  // Killed with the test process whatever happens to it (the server also exits when its stdin closes).
  const onExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  child.once('exit', () => process.off('exit', onExit));
  const lines = createInterface({ input: child.stdout! });
  try {
    const bound = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`s3rver did not start within 20 s\n${stderr}`)),
        20_000,
      );
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited (${signal ?? code}) before listening\n${stderr}`));
      });
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          resolve((JSON.parse(line) as { port: number }).port);
        } catch {
          reject(new Error(`s3rver said ${JSON.stringify(line)}\n${stderr}`));
        }
      });
    });
    return { child, port: bound };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    lines.close();
  }
}

/** A loopback port nothing listens on (bound, then released): an endpoint that is down. */
export async function deadEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
