import type { z } from 'zod';

export interface FetchJsonOptions<T> {
  /** Names the call in errors, e.g. "Unleash admin API PUT /api/admin/...". */
  what: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  schema: z.ZodType<T>;
}

export class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * One HTTP call with a timeout, a status check and a zod-validated JSON body. Every failure names the call;
 * request headers (tokens) are never part of an error.
 */
export async function fetchJson<T>(url: URL, options: FetchJsonOptions<T>): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method ?? 'GET',
      headers: {
        accept: 'application/json',
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const reason =
      (error as Error).name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : String(error);
    throw new Error(`${options.what} failed: ${reason}`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) {
    throw new HttpError(
      `${options.what} failed: HTTP ${response.status} ${text.slice(0, 300)}`,
      response.status,
    );
  }
  let json: unknown = undefined;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${options.what} returned a body that is not JSON: ${text.slice(0, 200)}`);
    }
  }
  const parsed = options.schema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `${options.what} returned an unexpected body: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}
