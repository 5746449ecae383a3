import { z } from 'zod';
import { toSnakeCase } from '../../src/naming/to-snake-case';
import { formatZodIssues, KNOWN_LLM_PARAM_FIELDS, LlmParams } from '../../src/schemas/generation-params';
import { isPlainObject, sameJson, showJson } from '../../src/json/json-values';
import type { SpellingConflict } from '../../db/template-quarantine-schema';

/**
 * The template migration's rule for one `llm_preferences` value (SPEC §5 phase 4), pure and free of I/O so
 * the migration, its preview and the tests share it:
 * - a top-level key whose snake_case form is a known LLM parameter is renamed to that form; known fields
 *   already in snake_case (`temperature` included) stay as they are;
 * - a field given in its snake_case spelling and another spelling keeps the snake_case value, drops the
 *   other spellings and is reported as a conflict; two non-snake spellings with equal values collapse, with
 *   different values the template is invalid (there is no snake_case value to prefer);
 * - any other key is unknown: kept exactly as spelt (a consumer we do not know may read it) and reported;
 * - the known fields are validated with the strict `LlmParams` schema; nested values are never rewritten.
 * An invalid value is left as it is (`quarantine`); only on explicit request (`defaults`) are its invalid
 * fields dropped, so the model's own defaults apply to them, and the valid fields kept.
 *
 * `preferences` is what `ops` (rename or drop per original key) produce. The migration writes `preferences`
 * when every stored number survives JSON unchanged, and otherwise applies `ops` in SQL, so values, numbers
 * included, always stay byte-for-byte as stored.
 */

export type OnInvalid = 'quarantine' | 'defaults';

/** Rename a key to the given name, or drop it (null). Keys not listed stay as they are. */
export type PreferenceOps = Record<string, string | null>;

export interface DroppedField {
  field: string;
  /** The keys removed for it, as spelt in the template. */
  keys: string[];
  issues: string[];
}

interface Rewrite {
  ops: PreferenceOps;
  preferences: Record<string, unknown>;
  conflicts: SpellingConflict[];
}

export type NormalizeResult =
  /** Already snake_case and valid: a fixed point, nothing to write. */
  | { status: 'normal'; unknownFields: string[] }
  | ({ status: 'migrate'; unknownFields: string[] } & Rewrite)
  | {
      status: 'invalid';
      /** One readable line per problem (`formatZodIssues`), naming the key as the template spelt it. */
      issues: string[];
      unknownFields: string[];
      /** With `onInvalid: 'defaults'` and an object value: the rewrite without the invalid fields. */
      repair: (Rewrite & { dropped: DroppedField[] }) | null;
    };

const KNOWN = new Set<string>(KNOWN_LLM_PARAM_FIELDS);
const ROOT_LABEL = 'llm_preferences';
const NO_FIELDS: ReadonlySet<string> = new Set();

/** The spellings of one known field, in the template's key order. */
interface FieldGroup {
  field: string;
  keys: string[];
}

// Templates repeat a handful of spellings, and the naming rule is seven regular expressions: remembering the
// answer per key makes it a map lookup. Bounded, so hostile data cannot grow it without limit.
const fieldOfKey = new Map<string, string | null>();
const MAX_REMEMBERED_KEYS = 10_000;

/** The known snake_case field a key spells, or null for an unknown key. */
function knownFieldOf(key: string): string | null {
  const remembered = fieldOfKey.get(key);
  if (remembered !== undefined) return remembered;
  const snake = toSnakeCase(key);
  const field = KNOWN.has(snake) ? snake : null;
  if (fieldOfKey.size >= MAX_REMEMBERED_KEYS) fieldOfKey.clear();
  fieldOfKey.set(key, field);
  return field;
}

function groupKeys(input: Record<string, unknown>): { groups: FieldGroup[]; unknownFields: string[] } {
  const groups = new Map<string, FieldGroup>();
  const unknownFields: string[] = [];
  for (const key of Object.keys(input)) {
    const field = knownFieldOf(key);
    // A known snake_case name is its own normal form, so an unknown key can never collide with a target.
    if (field === null) {
      unknownFields.push(key);
      continue;
    }
    const group = groups.get(field);
    if (group) group.keys.push(key);
    else groups.set(field, { field, keys: [key] });
  }
  return { groups: [...groups.values()], unknownFields };
}

interface Resolution {
  /** The key whose value the field keeps, or null when the spellings disagree and none is snake_case. */
  kept: string | null;
  conflict: SpellingConflict | null;
}

function resolveGroup(input: Record<string, unknown>, group: FieldGroup): Resolution {
  const [first] = group.keys;
  if (first === undefined) throw new Error(`field ${group.field} has no spelling`);
  if (group.keys.length === 1) return { kept: first, conflict: null };
  const agreed = group.keys.every((key) => sameJson(input[key], input[first]));
  const kept = group.keys.includes(group.field) ? group.field : agreed ? first : null;
  if (kept === null) return { kept: null, conflict: null };
  return {
    kept,
    conflict: {
      field: group.field,
      kept: { key: kept, value: input[kept] },
      dropped: group.keys.filter((key) => key !== kept).map((key) => ({ key, value: input[key] })),
      agreed,
    },
  };
}

/** Which key each issue's field was spelt as, so the line points at what the template actually says. */
function describeIssues(error: z.ZodError, spelling: ReadonlyMap<string, string>): string[] {
  return error.issues.flatMap((issue) => {
    const lines = formatZodIssues(new z.ZodError([issue]), ROOT_LABEL);
    const field = issue.path[0];
    const key = typeof field === 'string' ? spelling.get(field) : undefined;
    if (typeof field !== 'string' || key === undefined || key === field) return lines;
    return lines.map((line) =>
      line.startsWith(field) ? `${field} (given as ${key})${line.slice(field.length)}` : line,
    );
  });
}

/** The fields an issue list blames; undefined when one of them concerns the whole value. */
function blamedFields(error: z.ZodError): Set<string> | undefined {
  const fields = new Set<string>();
  for (const issue of error.issues) {
    const field = issue.path[0];
    if (typeof field !== 'string') return undefined;
    fields.add(field);
  }
  return fields;
}

function buildRewrite(
  input: Record<string, unknown>,
  kept: ReadonlyMap<string, string>,
  conflicts: SpellingConflict[],
  dropFields: ReadonlySet<string>,
): Rewrite & { knownOnly: Record<string, unknown> } {
  // Null prototypes: a "__proto__" key from stored JSON is an ordinary own key, never the object's prototype.
  const ops: PreferenceOps = Object.create(null) as PreferenceOps;
  const preferences = Object.create(null) as Record<string, unknown>;
  const knownOnly = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    const field = knownFieldOf(key);
    if (field === null) {
      preferences[key] = input[key];
    } else if (!dropFields.has(field) && kept.get(field) === key) {
      if (key !== field) ops[key] = field;
      preferences[field] = input[key];
      knownOnly[field] = input[key];
    } else {
      ops[key] = null;
    }
  }
  return {
    ops,
    preferences,
    knownOnly,
    conflicts: dropFields.size === 0 ? conflicts : conflicts.filter((c) => !dropFields.has(c.field)),
  };
}

/**
 * Decides what the template migration does with one `llm_preferences` value.
 *
 * @example
 * normalizeLlmPreferences({ maxTokens: 256, temperature: 0.2, max_tokens: 512, team: 'search' });
 * // { status: 'migrate', ops: { maxTokens: null }, preferences: { max_tokens: 512, temperature: 0.2, team: 'search' },
 * //   conflicts: [{ field: 'max_tokens', kept: { key: 'max_tokens', value: 512 }, ... }], unknownFields: ['team'] }
 * normalizeLlmPreferences({ temperature: 7 });
 * // { status: 'invalid', issues: ['temperature: must be at most 2'], unknownFields: [], repair: null }
 */
export function normalizeLlmPreferences(
  value: unknown,
  options: { onInvalid?: OnInvalid } = {},
): NormalizeResult {
  if (!isPlainObject(value)) {
    // The schema's own message for a non-object ("must be an object, got a list"); nothing to salvage.
    const parsed = LlmParams.safeParse(value);
    const issues = parsed.success
      ? [`${ROOT_LABEL}: must be an object`]
      : formatZodIssues(parsed.error, ROOT_LABEL);
    return { status: 'invalid', issues, unknownFields: [], repair: null };
  }
  const normal = normalFastPath(value);
  if (normal) return normal;
  const { groups, unknownFields } = groupKeys(value);
  const kept = new Map<string, string>();
  const conflicts: SpellingConflict[] = [];
  const conflictIssues: z.core.$ZodIssue[] = [];
  for (const group of groups) {
    const resolution = resolveGroup(value, group);
    if (resolution.kept === null) {
      const spellings = group.keys.map((key) => `${key} (${showJson(value[key])})`).join(' and ');
      conflictIssues.push({
        code: 'custom',
        path: [group.field],
        message: `given as ${spellings} with different values and no ${group.field} spelling to prefer`,
      });
      continue;
    }
    kept.set(group.field, resolution.kept);
    if (resolution.conflict) conflicts.push(resolution.conflict);
  }
  const { knownOnly, ...rewrite } = buildRewrite(value, kept, conflicts, NO_FIELDS);
  const parsed = LlmParams.safeParse(knownOnly);
  if (parsed.success && conflictIssues.length === 0) {
    return Object.keys(rewrite.ops).length === 0
      ? { status: 'normal', unknownFields }
      : { status: 'migrate', unknownFields, ...rewrite };
  }
  const error = new z.ZodError([...conflictIssues, ...(parsed.error?.issues ?? [])]);
  const issues = describeIssues(error, kept);
  if (options.onInvalid !== 'defaults') return { status: 'invalid', issues, unknownFields, repair: null };
  return {
    status: 'invalid',
    issues,
    unknownFields,
    repair: repairByDropping(value, groups, kept, conflicts, error),
  };
}

/**
 * The common case of a template already in normal form, without building the rewrite: every key is a known
 * field in snake_case or an unknown key, and the known fields are valid. Undefined when anything else holds.
 */
function normalFastPath(input: Record<string, unknown>): NormalizeResult | undefined {
  const unknownFields: string[] = [];
  for (const key of Object.keys(input)) {
    const field = knownFieldOf(key);
    if (field === null) unknownFields.push(key);
    else if (field !== key) return undefined;
  }
  const known =
    unknownFields.length === 0
      ? input
      : Object.fromEntries(Object.entries(input).filter(([key]) => knownFieldOf(key) !== null));
  return LlmParams.safeParse(known).success ? { status: 'normal', unknownFields } : undefined;
}

/**
 * Drops every field an issue blames and validates the rest again, until what is left is valid: dropping a
 * field can expose a cross-field issue (`thinking_tokens` left without a valid `thinking_mode`), which then
 * goes too. Null when an issue concerns no single field.
 */
function repairByDropping(
  input: Record<string, unknown>,
  groups: readonly FieldGroup[],
  kept: ReadonlyMap<string, string>,
  conflicts: SpellingConflict[],
  firstError: z.ZodError,
): (Rewrite & { dropped: DroppedField[] }) | null {
  const dropFields = new Set<string>();
  const issuesByField = new Map<string, string[]>();
  let error: z.ZodError | undefined = firstError;
  while (error) {
    const blamed = blamedFields(error);
    if (!blamed || [...blamed].every((field) => dropFields.has(field))) return null;
    for (const issue of error.issues) {
      const field = String(issue.path[0]);
      const lines = describeIssues(new z.ZodError([issue]), kept);
      issuesByField.set(field, [...(issuesByField.get(field) ?? []), ...lines]);
    }
    for (const field of blamed) dropFields.add(field);
    const remaining = Object.fromEntries(
      groups.flatMap((g) => {
        const key = kept.get(g.field);
        return key !== undefined && !dropFields.has(g.field) ? [[g.field, input[key]]] : [];
      }),
    );
    const parsed = LlmParams.safeParse(remaining);
    error = parsed.success ? undefined : parsed.error;
  }
  const { knownOnly: _valid, ...rewrite } = buildRewrite(input, kept, conflicts, dropFields);
  const dropped = groups
    .filter((group) => dropFields.has(group.field))
    .map((group) => ({ field: group.field, keys: group.keys, issues: issuesByField.get(group.field) ?? [] }));
  return { ...rewrite, dropped };
}
