import type { ConfigPath } from '../flags/flag-decision';
import type { Caller } from './caller-auth';

/** What a handler knows about the request beyond its own arguments. */
export interface RequestContext {
  /** From `x-user-id` (only callers with the `users` scope may send it); undefined means global values only. */
  userId: string | undefined;
  /** The authenticated caller; handlers check the scope a write needs once its body says which. */
  caller: Caller;
}

export interface HandlerResult {
  statusCode: number;
  /** Serialized as JSON; camelCase field names on both paths. */
  body: unknown;
}

/**
 * One implementation of the public config API. The service has two, `unified` and `legacy`, behind the same
 * URLs; the flag picks one per request (see config-service.ts).
 */
export interface ConfigHandlers {
  readonly path: ConfigPath;
  getConfig(context: RequestContext, rawKey: string): Promise<HandlerResult>;
  putConfig(context: RequestContext, rawKey: string, body: unknown): Promise<HandlerResult>;
  listModels(context: RequestContext, query: unknown): Promise<HandlerResult>;
  generationDefaults(context: RequestContext): Promise<HandlerResult>;
}
