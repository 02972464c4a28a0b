import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson } from '../core/canonical-json.js';
import { writeFileAtomic } from '../core/fs-atomic.js';
import type { Project } from './schema.js';

/**
 * Projects already validated, by the hash of their document, in the workspace: an unchanged rerun gets its project
 * without loading zod (~95 modules, ~0.1 s of a 0.4 s rerun) or running the schema. An entry is the schema's output
 * for that document, so a hit is exactly what validation would have returned; the key also covers the validator
 * itself (the schema's and the contract's code as installed, and zod's version), so an upgrade or an edited
 * schema never reuses an old answer. Only valid projects are remembered: an invalid one is validated (and its
 * problems listed) every time.
 */

/** Entries kept per workspace; the oldest are removed past this (each is a few KB). */
const MAX_ENTRIES = 64;

/** The folder of a workspace holding the entries. */
export function validatedProjectsFolder(workspace: string): string {
  return join(workspace, 'validated-projects');
}

let fingerprint: Promise<string | undefined> | undefined;

/**
 * What a validated project depends on besides its document. Read from the files next to this module (`.js` when
 * built, `.ts` from source); undefined, which turns the cache off, when they cannot be read.
 */
function validatorFingerprint(): Promise<string | undefined> {
  fingerprint ??= (async () => {
    try {
      const here = fileURLToPath(import.meta.url);
      const hash = createHash('sha256');
      for (const name of ['schema', 'contract']) {
        hash.update(await readFile(join(dirname(here), `${name}${extname(here)}`)));
      }
      hash.update(await readFile(createRequire(import.meta.url).resolve('zod/package.json')));
      return hash.digest('hex');
    } catch {
      return undefined;
    }
  })();
  return fingerprint;
}

async function entryPath(workspace: string, doc: unknown): Promise<string | undefined> {
  const validator = await validatorFingerprint();
  if (validator === undefined) return undefined;
  let text: string;
  try {
    text = canonicalJson(doc);
  } catch {
    return undefined; // not plain JSON (an undefined member, a function): validated every time
  }
  const key = createHash('sha256').update(validator).update('\0').update(text).digest('hex');
  return join(validatedProjectsFolder(workspace), `${key}.json`);
}

/** The project validation gave for this document before, or undefined. A missing or unreadable entry is a miss. */
export async function cachedValidation(workspace: string, doc: unknown): Promise<Project | undefined> {
  const file = await entryPath(workspace, doc);
  if (file === undefined) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Project;
  } catch {
    return undefined;
  }
}

/**
 * Remembers what validation gave for a valid document. Best effort: a workspace that cannot be written (a read-only
 * folder, a path that is a file) only means the next run validates again, and is reported by the run itself.
 */
export async function rememberValidation(workspace: string, doc: unknown, project: Project): Promise<void> {
  const file = await entryPath(workspace, doc);
  if (file === undefined) return;
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(project));
    await pruneEntries(dirname(file));
  } catch {
    // See above: a cache, never a reason to fail.
  }
}

async function pruneEntries(folder: string): Promise<void> {
  const names = (await readdir(folder)).filter((n) => n.endsWith('.json'));
  if (names.length <= MAX_ENTRIES) return;
  const aged = await Promise.all(
    names.map(async (name) => ({ name, mtime: (await stat(join(folder, name))).mtimeMs })),
  );
  aged.sort((a, b) => a.mtime - b.mtime);
  for (const { name } of aged.slice(0, aged.length - MAX_ENTRIES)) {
    await rm(join(folder, name), { force: true });
  }
}
