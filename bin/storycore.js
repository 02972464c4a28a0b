#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run automatically by `npm ci`/`npm install`).
import { availableParallelism } from 'node:os';

// One libuv worker per core (Node's default is 4). Image work is CPU-bound, so more threads than cores buy
// nothing, while glibc gives every thread its own malloc arena: with 4 threads on 2 cores, RSS crept up with the
// length of a run (fragmentation); with one per core it stays flat. Must be set before the pool first starts,
// hence before the CLI is imported.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(2, availableParallelism()));

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
