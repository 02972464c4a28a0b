// `node --import ./record-imports.mjs …` with STORYCORE_IMPORT_LOG=<file>: appends to that file, one URL a line,
// every module the process resolves through the ES module loader, and at exit every CommonJS module it loaded
// (require.cache, which a `createRequire` require() fills without passing the ESM hooks). Used to prove which
// modules a command loads, without timing anything.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const log = process.env['STORYCORE_IMPORT_LOG'];
if (!log) throw new Error('record-imports.mjs needs STORYCORE_IMPORT_LOG=<file to append resolved URLs to>');
register(new URL('./record-imports-hooks.mjs', import.meta.url), { data: { log } });

const { cache } = createRequire(import.meta.url);
process.on('exit', () => {
  const urls = Object.keys(cache).map((file) => pathToFileURL(file).href);
  appendFileSync(log, urls.map((url) => `${url}\n`).join(''));
});
