import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * What the throw-away database servers of test/distributed share: a free loopback port, and a server process
 * started in its own process group (so `kill9` takes the server _and_ its forked children down at once, as a
 * machine crash would) whose readiness is a line in its log.
 */

/** A port nothing listens on right now (the OS picks it; a race with another process is possible but rare). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout + stderr), for failure messages. */
  output(): string;
  /** Resolves when the process has exited (at once if it already has). */
  exited: Promise<void>;
}

/**
 * Spawns `command` and resolves once its output matches `ready`; rejects (with its output) when it exits first or
 * `timeoutMs` passes. The process is a group leader (`detached`) so `killGroup` reaches its children too.
 */
export async function startServerProcess(
  name: string,
  command: string,
  args: string[],
  ready: RegExp,
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const { timeoutMs = 30_000, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      finish(new Error(`${name} did not become ready within ${timeoutMs} ms:\n${text}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      if (ready.test(text)) finish();
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish(new Error(`${name} exited (${signal ?? code}) before it was ready:\n${text}`));
    const onError = (error: Error): void => finish(new Error(`${name} could not start: ${error.message}`));
    function finish(error?: Error): void {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      if (error) {
        killGroup(child);
        reject(error);
      } else resolve();
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
  // Keep draining its output (a full pipe would block the server) and keep it for messages.
  return { child, output: () => text, exited };
}

/** SIGKILLs the process group led by `child` (the server and everything it forked). */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Waits for `exited`, SIGKILLing the group if it has not happened within `graceMs`. */
export async function waitOrKill(server: ServerProcess, graceMs: number): Promise<void> {
  const timer = setTimeout(() => killGroup(server.child), graceMs);
  await server.exited;
  clearTimeout(timer);
}
