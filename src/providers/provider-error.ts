/**
 * - `http`: the provider answered with a non-2xx status.
 * - `timeout`: no complete answer within the adapter's timeout.
 * - `network`: the request never got an answer (refused, reset, DNS).
 * - `bad_response`: a 2xx answer that is not the JSON the adapter expects.
 * - `invalid_request`: the parameters cannot be expressed for this provider; nothing was sent.
 */
export type ProviderErrorKind = 'http' | 'timeout' | 'network' | 'bad_response' | 'invalid_request';

/** A failed completion. The message names the provider and never holds the API key. */
export class ProviderError extends Error {
  constructor(
    readonly provider: string,
    readonly kind: ProviderErrorKind,
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ProviderError';
  }
}
