/**
 * Rejects with `Error("<what> timed out after N ms")` when the promise has not settled in time, and clears its
 * timer either way. The operation itself is not cancelled; callers give up waiting and clean up themselves.
 *
 * @example
 * await withTimeout(client.connect(), 5_000, 'connecting the config listener to Postgres');
 */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
