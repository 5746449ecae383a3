import { type Command } from 'commander';
import { toSnakeCase } from '../naming/to-snake-case';

export interface KeyPreview {
  key: string;
  normalized: string;
  changed: boolean;
}

export interface KeyPreviewFormat {
  json?: boolean;
}

const ARROW = '→';
const UNCHANGED = '(unchanged)';

// A key is an arbitrary string: escape control characters so one key cannot break the table's rows.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/g;

function printable(text: string): string {
  if (text === '') return '""';
  return text.replace(CONTROL_CHARACTER, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// Code points, not UTF-16 units, so an emoji or accented key does not shift the column.
function width(text: string): number {
  return [...text].length;
}

function padEnd(text: string, to: number): string {
  return text + ' '.repeat(Math.max(0, to - width(text)));
}

/**
 * Each key with its SPEC §4 normal form, in input order.
 *
 * @example
 * previewKeys(['maxTokens']); // [{ key: 'maxTokens', normalized: 'max_tokens', changed: true }]
 */
export function previewKeys(keys: readonly string[]): KeyPreview[] {
  return keys.map((key) => {
    const normalized = toSnakeCase(key);
    return { key, normalized, changed: normalized !== key };
  });
}

/**
 * Renders the preview as an aligned two-column table, or as a JSON array with `json`. Ends with a newline.
 *
 * @example
 * formatKeyPreview(['maxTokens', 'top_p']);
 * // maxTokens  →  max_tokens
 * // top_p      →  top_p       (unchanged)
 * formatKeyPreview(['topP'], { json: true });
 * // [{"key":"topP","normalized":"top_p","changed":true}]
 */
export function formatKeyPreview(keys: readonly string[], format: KeyPreviewFormat = {}): string {
  const previews = previewKeys(keys);
  if (format.json) return `${JSON.stringify(previews)}\n`;
  const rows = previews.map((p) => ({ key: printable(p.key), normalized: printable(p.normalized), p }));
  const keyWidth = Math.max(0, ...rows.map((r) => width(r.key)));
  const normalizedWidth = Math.max(0, ...rows.map((r) => width(r.normalized)));
  const lines = rows.map(({ key, normalized, p }) => {
    const left = `${padEnd(key, keyWidth)}  ${ARROW}  `;
    // Only rows carrying the marker are padded, so no line ends in spaces.
    return p.changed ? left + normalized : `${left + padEnd(normalized, normalizedWidth)}  ${UNCHANGED}`;
  });
  return lines.map((line) => `${line}\n`).join('');
}

// Commander's own configured output (inherited from the program when the command is created), so callers
// and tests capture it with `configureOutput` exactly like help and error text.
function writeOut(command: Command): (text: string) => void {
  return command.configureOutput().writeOut ?? ((text) => process.stdout.write(text));
}

/**
 * Adds `keys <key...> [--json]`: shows how each key normalizes under the SPEC §4 naming rule, without
 * touching any database. Output goes through commander's `configureOutput`; configure it before registering.
 *
 * @example
 * const program = new Command('rollout');
 * registerKeysCommand(program);
 * await program.parseAsync(['keys', 'maxTokens', 'top_p'], { from: 'user' });
 */
export function registerKeysCommand(program: Command): Command {
  return program
    .command('keys')
    .description('preview how configuration keys normalize to snake_case (SPEC §4)')
    .argument('<key...>', 'keys to normalize, e.g. maxTokens llm.topP')
    .option('--json', 'print a JSON array of {key, normalized, changed} instead of a table')
    .action((keys: string[], options: { json?: boolean }, command: Command) => {
      writeOut(command)(formatKeyPreview(keys, { json: options.json === true }));
    });
}
