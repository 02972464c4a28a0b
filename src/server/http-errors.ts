import { ErrorCode, isStoryCoreError, ValidationError } from '../core/errors.js';

/** What an error becomes on the wire: a status and a JSON body with a stable code. */
export interface ErrorResponse {
  status: 400 | 401 | 403 | 404 | 409 | 413 | 500 | 502 | 503 | 504;
  body: { error: { code: string; message: string }; issues?: Array<{ path: string; message: string }> };
}

const STATUS: Partial<Record<ErrorCode, ErrorResponse['status']>> = {
  [ErrorCode.VALIDATION]: 400,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.CONFLICT]: 409,
  [ErrorCode.BACKEND_UNREACHABLE]: 502,
  [ErrorCode.BACKEND_REJECTED]: 502,
  [ErrorCode.BACKEND_FAILED]: 502,
  [ErrorCode.RATE_LIMITED]: 503,
  [ErrorCode.TIMEOUT]: 504,
  [ErrorCode.STORE]: 503,
};

/** An error the API answers with a fixed status (auth, limits) that is not part of the engine's hierarchy. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: 401 | 403 | 404 | 413,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The one place errors become HTTP responses (house style 13). Our errors keep their message (it names what is
 * wrong and where); anything else is logged by the caller and answered 500 without internals.
 */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof HttpError) {
    return { status: error.status, body: { error: { code: error.code, message: error.message } } };
  }
  if (isStoryCoreError(error)) {
    const status = STATUS[error.code] ?? 500;
    if (status === 500) return internal();
    const body: ErrorResponse['body'] = { error: { code: error.code, message: error.message } };
    if (error instanceof ValidationError) body.issues = error.issues;
    return { status, body };
  }
  return internal();
}

function internal(): ErrorResponse {
  return {
    status: 500,
    body: { error: { code: ErrorCode.INTERNAL, message: 'internal error (see the server log)' } },
  };
}
