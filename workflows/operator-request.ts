import { z } from 'zod';
import { ROLLBACK_SCOPES, type RollbackScope } from '../src/plan/rollout-plan';
import { UndecodablePayload } from '../src/temporal/tolerant-payload-converter';

/** Longest `actor` an operator message may carry (user@host, an email, a UI user name). */
export const MAX_ACTOR_CHARS = 200;
/** Longest `reason`: a sentence or a short paragraph for the audit log. */
export const MAX_REASON_CHARS = 1_000;

export type OperatorAction = 'pause' | 'resume' | 'approve' | 'rollback';

/** What an operator sends with pause, resume, approve and rollback (signal or update input). */
export interface OperatorRequest {
  /** Who asks (user@host from the CLI). */
  actor?: string;
  /** Why, for the audit log. */
  reason?: string;
  /**
   * Rollback only: what it undoes, `flag` (the flag to 0 %, migrated data stays) or `full` (the flag, then
   * every data phase). Absent: the plan's `rollback.scope`. Any other action refuses the key.
   */
  scope?: RollbackScope;
}

/** A request that passed {@link readOperatorRequest}: clean, bounded strings only. */
export interface ValidOperatorRequest {
  actor: string;
  reason: string | null;
  /** Only on a rollback that named its scope. */
  scope?: RollbackScope;
}

export const UNKNOWN_ACTOR = 'unknown (no actor given)';

// C0/C1 controls, the bidirectional overrides that can make an audit line read differently from its bytes,
// and the invisible or line-breaking format characters that make a name read blank (soft hyphen, zero-width
// and direction marks, line and paragraph separators, word joiners, the byte-order mark).
const UNPRINTABLE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
// A UTF-16 half without its other half: JSON writes it as an escape that Postgres jsonb refuses.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Printable, well-formed text: control and bidi characters become spaces, lone surrogates U+FFFD. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, ' ').replace(LONE_SURROGATE, '\ufffd');
}

/** At most `max` UTF-16 units, never cutting a surrogate pair in half, with an ellipsis when cut. */
export function boundedText(text: string, max: number): string {
  const clean = printable(text);
  if (clean.length <= max) return clean;
  let cut = clean.slice(0, max - 1);
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

const cleanText = (field: string, max: number) =>
  z
    .string({ error: `${field} must be a string` })
    // Checked before cleaning too, so a megabyte-sized value is refused without being scanned: signals of
    // a flood must be handled fast enough for the rollout to continue as new between them.
    .refine((text) => text.length <= 4 * max, `${field} is longer than ${max} characters`)
    .transform((text) => printable(text).trim())
    .refine((text) => text.length <= max, `${field} is longer than ${max} characters`);

const NOT_AN_OBJECT = 'must be an object such as {"actor": "you@host", "reason": "why"}';

const fields = {
  actor: cleanText('actor', MAX_ACTOR_CHARS).optional(),
  reason: cleanText('reason', MAX_REASON_CHARS).optional(),
};

const requestSchema = z.strictObject(fields, { error: NOT_AN_OBJECT });

// The value is never repeated: a refusal names the choices only.
const rollbackSchema = z.strictObject(
  {
    ...fields,
    scope: z
      .enum(ROLLBACK_SCOPES, { error: `scope must be ${ROLLBACK_SCOPES.map((s) => `"${s}"`).join(' or ')}` })
      .optional(),
  },
  { error: NOT_AN_OBJECT },
);

/** What an unknown key is told; the keys themselves are never repeated (they may be huge or hostile). */
function unknownKeysProblem(action: OperatorAction | undefined, keys: readonly PropertyKey[]): string {
  if (action === 'rollback') return 'only "actor", "reason" and "scope" are accepted';
  if (keys.includes('scope')) return 'only "actor" and "reason" are accepted ("scope" is for rollback only)';
  return 'only "actor" and "reason" are accepted';
}

export type OperatorRequestReading =
  { ok: true; request: ValidOperatorRequest } | { ok: false; problem: string; payload: string };

/**
 * Checks one operator message at the workflow boundary. Anything an outsider sends is refused unless it is
 * an object with at most a short `actor` and `reason` (and, for a rollback, a `scope` of `flag` or `full`);
 * the refusal describes the payload by type and size and never copies it, so an oversized or hostile message
 * cannot grow the history or the audit log.
 *
 * @example
 * readOperatorRequest({ actor: 'ana@ops', reason: 'error rate' }); // { ok: true, request: { actor: 'ana@ops', reason: 'error rate' } }
 * readOperatorRequest({ reason: 'x'.repeat(2_000_000) }).ok;      // false: "reason is longer than 1000 characters"
 * readOperatorRequest({ scope: 'flag' }, 'rollback');             // ok, request.scope 'flag'
 * readOperatorRequest({ scope: 'flag' }, 'pause').ok;             // false: scope is for rollback only
 */
export function readOperatorRequest(raw: unknown, action?: OperatorAction): OperatorRequestReading {
  if (raw instanceof UndecodablePayload) {
    return {
      ok: false,
      problem: `the payload could not be decoded (encoding ${raw.encoding})`,
      payload: `undecodable, ${raw.bytes} bytes`,
    };
  }
  if (raw === undefined || raw === null) return { ok: true, request: { actor: UNKNOWN_ACTOR, reason: null } };
  if (ArrayBuffer.isView(raw)) {
    // A binary payload decodes to bytes; walking or re-serializing them costs time in proportion to their size.
    return { ok: false, problem: NOT_AN_OBJECT, payload: describePayload(raw) };
  }
  const parsed = (action === 'rollback' ? rollbackSchema : requestSchema).safeParse(raw);
  if (!parsed.success) {
    const problem = parsed.error.issues
      .slice(0, 3)
      .map((issue) =>
        issue.code === 'unrecognized_keys' ? unknownKeysProblem(action, issue.keys) : issue.message,
      )
      .join('; ');
    return { ok: false, problem, payload: describePayload(raw) };
  }
  const { actor, reason, scope }: z.output<typeof rollbackSchema> = parsed.data;
  return {
    ok: true,
    request: {
      actor: actor ? actor : UNKNOWN_ACTOR,
      reason: reason ? reason : null,
      ...(scope === undefined ? {} : { scope }),
    },
  };
}

/** Type and size of a refused payload: what the status and audit log say about it instead of its content. */
export function describePayload(raw: unknown): string {
  if (ArrayBuffer.isView(raw)) return `binary, ${raw.byteLength} bytes`;
  const type = Array.isArray(raw) ? 'array' : raw === null ? 'null' : typeof raw;
  let size: string;
  try {
    size = `${JSON.stringify(raw)?.length ?? 0} characters of JSON`;
  } catch {
    // Nesting too deep to serialize again; the type is still worth saying.
    size = 'size unknown';
  }
  return `${type}, ${size}`;
}
