import type { z } from 'zod';

/**
 * Where a zod issue is, as a person reads it in a YAML or JSON file. Keys that are not plain words are quoted
 * and cut, so a hostile key cannot forge a path or flood the message.
 *
 * @example
 * issuePath(['stages', 1, 'soak']); // 'stages[1].soak'
 */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === 'number') return `${out}[${part}]`;
    const key = String(part);
    if (!/^[A-Za-z0-9_-]{1,100}$/.test(key)) return `${out}[${JSON.stringify(key.slice(0, 100))}]`;
    return out ? `${out}.${key}` : key;
  }, '');
}

/**
 * Every problem as `path: message`, unknown keys named.
 *
 * @example
 * describeIssues(result.error.issues, 'gates'); // ['gates.errors.interval: interval must be a duration such as 1s, 30s or 5m, got "fast"']
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const where = issuePath([...(prefix ? [prefix] : []), ...issue.path]);
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
        : issue.message;
    return where ? `${where}: ${message}` : message;
  });
}
