import { isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';

export interface DuplicateKey {
  /** Where the mapping is, as in plan errors: `stages[0]`; empty at the top level. */
  path: string;
  key: string;
  /** 1-based line and column of the repeated occurrence and of the first one. */
  at: Position;
  first: Position;
}

export interface Position {
  line: number;
  col: number;
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function childPath(path: string, part: string | number): string {
  if (typeof part === 'number') return `${path}[${part}]`;
  // An odd key (spaces, newlines) is quoted so it cannot blur the path or break the error's line.
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(part)) return `${path}[${JSON.stringify(part.slice(0, 100))}]`;
  return path ? `${path}.${part}` : part;
}

/**
 * Every key given more than once in one mapping of a parsed YAML (or JSON, which the same parser reads)
 * document. `JSON.parse` and a lenient YAML parse let the last value win silently; a plan must say each option
 * once. Parse with `uniqueKeys: false` so the repeated pairs are kept, and a {@link LineCounter} for lines.
 *
 * @example
 * const lineCounter = new LineCounter();
 * const doc = parseDocument('flag: a\nflag: b\n', { uniqueKeys: false, lineCounter });
 * duplicateKeys(doc, lineCounter);
 * // [{ path: '', key: 'flag', at: { line: 2, col: 1 }, first: { line: 1, col: 1 } }]
 */
export function duplicateKeys(document: Document, lineCounter: LineCounter): DuplicateKey[] {
  const found: DuplicateKey[] = [];
  const positionOf = (node: unknown): Position => {
    const offset = (node as { range?: [number, number, number] } | null)?.range?.[0];
    return offset === undefined ? { line: 0, col: 0 } : lineCounter.linePos(offset);
  };
  const walk = (node: unknown, path: string): void => {
    if (isMap(node)) {
      const seen = new Map<string, Position>();
      for (const pair of node.items) {
        const key = keyText(pair.key);
        const at = positionOf(pair.key);
        const first = seen.get(key);
        if (first === undefined) seen.set(key, at);
        else found.push({ path, key, at, first });
        walk(pair.value, childPath(path, key));
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => walk(item, childPath(path, index)));
    }
  };
  walk(document.contents, '');
  return found.sort((a, b) => a.at.line - b.at.line || a.at.col - b.at.col);
}

const where = ({ line, col }: Position): string => `line ${line}, column ${col}`;

/**
 * The plan-error line for one duplicate.
 *
 * @example
 * // 'stages[0]: duplicate key "soak" at line 7, column 5 (first at line 6, column 5); give each option once'
 */
export function describeDuplicateKey({ path, key, at, first }: DuplicateKey): string {
  const shown = JSON.stringify(key.length > 100 ? `${key.slice(0, 100)}…` : key);
  const message = `duplicate key ${shown} at ${where(at)} (first at ${where(first)}); give each option once`;
  return path ? `${path}: ${message}` : message;
}
