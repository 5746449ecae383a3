import type { z } from 'zod';
import { ProviderError } from './provider-error';

export interface ProviderPost<T> {
  provider: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  timeoutMs: number;
  /** Removed from every error text, since some providers echo the key back in their error bodies. */
  apiKey: string;
  schema: z.ZodType<T>;
}

const EXCERPT_CHARS = 200;

function redact(text: string, secret: string): string {
  return secret.length === 0 ? text : text.split(secret).join('[redacted]');
}

function excerpt(text: string, secret: string): string {
  // Redact before cutting, so a key straddling the cut cannot survive as a prefix.
  const clean = redact(text, secret).replace(/\s+/g, ' ').trim();
  return clean.length > EXCERPT_CHARS ? `${clean.slice(0, EXCERPT_CHARS)}…` : clean;
}

/** fetch reports "fetch failed" and keeps the useful part (ECONNREFUSED, ENOTFOUND) in `cause`. */
function networkReason(error: unknown): string {
  // Duck-typed: errors from Node's fetch may come from another realm (jest, vm), where instanceof fails.
  const cause = (error as { cause?: unknown } | null)?.cause;
  const message = (cause as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message !== '' ? message : String(error);
}

/**
 * POSTs JSON to a provider and returns the validated JSON answer. The timeout covers the whole exchange,
 * body included, so a server that sends headers and then stalls is cut off too.
 */
export async function postProviderJson<T>(request: ProviderPost<T>): Promise<T> {
  const { provider, timeoutMs, apiKey } = request;
  const signal = AbortSignal.timeout(timeoutMs);
  let status = 0;
  let text: string;
  try {
    const response = await fetch(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...request.headers },
      body: JSON.stringify(request.body),
      signal,
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    if (signal.aborted) {
      throw new ProviderError(
        provider,
        'timeout',
        `${provider} request timed out after ${timeoutMs} ms (POST ${request.url})`,
        undefined,
        { cause: error },
      );
    }
    const reason = networkReason(error);
    throw new ProviderError(
      provider,
      'network',
      `${provider} request failed (POST ${request.url}): ${excerpt(reason, apiKey)}`,
      undefined,
      { cause: error },
    );
  }
  if (status < 200 || status > 299) {
    throw new ProviderError(
      provider,
      'http',
      `${provider} request failed: HTTP ${status}: ${excerpt(text, apiKey)}`,
      status,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ProviderError(
      provider,
      'bad_response',
      `${provider} returned a body that is not JSON: ${excerpt(text, apiKey)}`,
      status,
    );
  }
  const parsed = request.schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`,
    );
    throw new ProviderError(
      provider,
      'bad_response',
      `${provider} returned an unexpected body (${problems.join('; ')}): ${excerpt(text, apiKey)}`,
      status,
    );
  }
  return parsed.data;
}
