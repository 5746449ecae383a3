import { z } from 'zod';

/** What a writer changed: one normalized key for one user (`null` = the global value), or everything. */
export type Invalidation = { key: string; userId: string | null } | { all: true };

export interface InvalidationHandlers {
  onInvalidate(invalidation: Invalidation): void;
  /**
   * The subscription is live, the first time or again after a lost connection. Messages sent while it was
   * down are gone, so the reader must treat everything it cached before this call as possibly stale.
   */
  onSubscribed(): void;
  /**
   * The connection was lost, or an attempt to (re)connect failed; the transport is already retrying. The
   * error names the server and the cause, never credentials. Cached entries keep expiring by TTL.
   */
  onDisconnected(error: Error): void;
}

/** Push invalidation between writers and every reader process; the reader's cache TTL is the fallback. */
export interface InvalidationTransport {
  /** Metric label and log field: `postgres` or `redis`. */
  readonly name: string;
  /**
   * Connects and subscribes, retrying with backoff until it succeeds or `close()` is called. Resolves on the
   * first successful subscription; never rejects (the reader bounds the wait).
   */
  start(handlers: InvalidationHandlers): Promise<void>;
  /** Ends the connection and every timer; idempotent. */
  close(): Promise<void>;
}

/** The wire format both transports carry (the Postgres trigger in migration 003 writes the same JSON). */
const messageSchema = z.union([
  z.object({ all: z.literal(true) }),
  z.object({ key: z.string().min(1), user_id: z.string().nullable() }),
]);

/** Encodes an invalidation for the wire; `{"key": ..., "user_id": ...}` or `{"all": true}`. */
export function encodeInvalidation(invalidation: Invalidation): string {
  return JSON.stringify(
    'all' in invalidation ? { all: true } : { key: invalidation.key, user_id: invalidation.userId },
  );
}

/**
 * Decodes a message from the wire. Anything unreadable becomes "invalidate everything": dropping the cache
 * costs a few reloads, ignoring a message could leave a stale value until the TTL.
 */
export function decodeInvalidation(payload: string): { invalidation: Invalidation; malformed: boolean } {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return { invalidation: { all: true }, malformed: true };
  }
  const parsed = messageSchema.safeParse(json);
  if (!parsed.success) return { invalidation: { all: true }, malformed: true };
  const message = parsed.data;
  return {
    invalidation: 'all' in message ? { all: true } : { key: message.key, userId: message.user_id },
    malformed: false,
  };
}
