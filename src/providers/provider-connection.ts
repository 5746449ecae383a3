/** What every adapter is given: where the provider is and how to authenticate. */
export interface ProviderConnection {
  /** Scheme, host and optional path prefix, e.g. `https://api.openai.com` or a local fake's address. */
  baseUrl: string;
  apiKey: string;
  /** Upper bound for one whole request, body included. Default 60 s. */
  timeoutMs?: number;
}

export interface CheckedConnection {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
}

export const DEFAULT_PROVIDER_TIMEOUT_MS = 60_000;

/** Rejects a bad connection at construction, not on the first request; errors never show the key. */
export function checkConnection(provider: string, connection: ProviderConnection): CheckedConnection {
  let url: URL;
  try {
    url = new URL(connection.baseUrl);
  } catch {
    throw new TypeError(`${provider} provider: baseUrl is not a URL: ${JSON.stringify(connection.baseUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`${provider} provider: baseUrl must be http or https, got ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new TypeError(`${provider} provider: baseUrl must not hold credentials, a query or a fragment`);
  }
  if (typeof connection.apiKey !== 'string' || connection.apiKey.trim() === '') {
    throw new TypeError(`${provider} provider: apiKey is missing`);
  }
  const timeoutMs = connection.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`${provider} provider: timeoutMs must be a positive whole number, got ${timeoutMs}`);
  }
  return { baseUrl: url.href.replace(/\/+$/, ''), apiKey: connection.apiKey, timeoutMs };
}
