import { StoreError, errorMessage } from '../core/errors.js';

/**
 * Turns a better-sqlite3 failure into a StoreError a person can act on: the file, the operation, and
 * what the SQLite result code means in plain words (locked, corrupt, read-only, disk full).
 */
export function storeErrorFrom(
  error: unknown,
  operation: string,
  path: string,
  busyTimeoutMs: number,
): StoreError {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const sqliteCode = typeof code === 'string' ? code : undefined;
  const details = { path, operation, ...(sqliteCode === undefined ? {} : { sqliteCode }) };
  const says = (what: string): StoreError =>
    new StoreError(`run store ${path}: ${what} (during ${operation})`, { cause: error, details });

  if (sqliteCode?.startsWith('SQLITE_BUSY') || sqliteCode?.startsWith('SQLITE_LOCKED')) {
    return says(`database is locked by another process; waited ${busyTimeoutMs} ms for its write to finish`);
  }
  if (sqliteCode === 'SQLITE_NOTADB' || sqliteCode?.startsWith('SQLITE_CORRUPT')) {
    return says('file is corrupt or is not a SQLite database; move it aside to start a fresh journal');
  }
  if (sqliteCode?.startsWith('SQLITE_READONLY'))
    return says('database is read-only (check file permissions)');
  if (sqliteCode?.startsWith('SQLITE_CANTOPEN'))
    return says('database file cannot be opened (check the folder exists and is writable)');
  if (sqliteCode === 'SQLITE_FULL') return says('disk is full');
  if (sqliteCode?.startsWith('SQLITE_IOERR')) return says(`disk I/O error: ${errorMessage(error)}`);
  if (error instanceof TypeError && /database connection is not open/i.test(error.message))
    return says('store is closed');
  return says(errorMessage(error));
}
