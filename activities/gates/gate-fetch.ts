/**
 * HTTP reads for the gates: a timeout on every request, a cap on the body, an optional bearer token from the
 * environment, and errors that name the call by its URL without credentials, query string or token.
 */

export interface GateFetchOptions {
  /** Names the read in errors, e.g. "scrape of http://127.0.0.1:3000/metrics". */
  what: string;
  timeoutMs: number;
  method?: 'GET' | 'HEAD';
  accept?: string;
  /** The token itself, resolved by the caller from the environment; sent as `authorization: Bearer`. */
  bearerToken?: string;
  signal?: AbortSignal;
  maxBytes?: number;
}

export interface GateResponse {
  status: number;
  contentType: string;
  body: string;
  elapsedMs: number;
}

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** The URL as errors and details may show it: scheme, host, port and path, never credentials or a query. */
export function describeUrl(url: string | URL): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

export class GateReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GateReadError';
  }
}

function reasonOf(error: unknown, timeoutMs: number, signal?: AbortSignal): string {
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (name === 'AbortError') return signal?.aborted ? 'cancelled' : `no answer within ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  // fetch reports "fetch failed" and keeps the useful part (ECONNREFUSED, ENOTFOUND) in its cause.
  return cause?.code ?? cause?.message ?? (error as Error | undefined)?.message ?? String(error);
}

/** Reads the body up to `maxBytes`; a larger body is an error rather than a memory problem. */
async function readCapped(response: Response, maxBytes: number, what: string): Promise<string> {
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(length) && length > maxBytes) {
    await response.body?.cancel();
    throw new GateReadError(`${what} failed: the body is ${length} bytes, more than ${maxBytes}`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new GateReadError(`${what} failed: the body is more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * One HTTP request with a timeout covering the answer and its body. Never throws for an HTTP status; throws
 * {@link GateReadError} (naming `what` and the reason) when there is no complete answer.
 */
export async function gateFetch(url: string, options: GateFetchOptions): Promise<GateResponse> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const started = performance.now();
  const headers: Record<string, string> = { accept: options.accept ?? '*/*' };
  if (options.bearerToken !== undefined) headers.authorization = `Bearer ${options.bearerToken}`;
  try {
    const response = await fetch(url, {
      method: options.method ?? 'GET',
      headers,
      signal,
      redirect: 'manual',
    });
    const body = await readCapped(response, options.maxBytes ?? DEFAULT_MAX_BODY_BYTES, options.what);
    return {
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      body,
      elapsedMs: performance.now() - started,
    };
  } catch (error) {
    if (error instanceof GateReadError) throw error;
    throw new GateReadError(`${options.what} failed: ${reasonOf(error, options.timeoutMs, options.signal)}`, {
      cause: error,
    });
  }
}

/**
 * The bearer token named by a gate's `bearerTokenEnv`; an error naming the variable (never a value) when it is
 * not set.
 */
export function bearerTokenFrom(
  env: Readonly<Record<string, string | undefined>>,
  name: string | undefined,
): string | undefined {
  if (name === undefined) return undefined;
  const token = env[name];
  if (token === undefined || token === '') {
    throw new GateReadError(`the environment variable ${name} (bearerTokenEnv) is not set`);
  }
  return token;
}
