/**
 * Small helpers for values parsed from JSON (request bodies, jsonb columns, template preferences).
 *
 * @example
 * isPlainObject({ a: 1 }); // true; arrays, null, class instances: false
 * sameJson({ a: [1, 2] }, { a: [1, 2] }); // true: key order ignored, as in jsonb
 * showJson('x'.repeat(100)); // '"xxx…' cut at 60 characters
 */

/** An object literal or `Object.create(null)`: not an array, not null, not a class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Structural equality of JSON values (key order ignored, as in jsonb). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => sameJson(item, b[index]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => Object.hasOwn(b, key) && sameJson(a[key], b[key]))
    );
  }
  return false;
}

/** A JSON rendering short enough for a message (60 characters, then an ellipsis). */
export function showJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
