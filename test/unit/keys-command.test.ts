import { Command, CommanderError } from 'commander';
import { formatKeyPreview, previewKeys, registerKeysCommand } from '../../src/cli/keys-command';

describe('formatKeyPreview', () => {
  it('aligns the two columns and marks unchanged keys', () => {
    expect(formatKeyPreview(['maxTokens', 'top_p', 'HTTPRequestTimeout'])).toBe(
      [
        'maxTokens           →  max_tokens',
        'top_p               →  top_p                 (unchanged)',
        'HTTPRequestTimeout  →  http_request_timeout',
        '',
      ].join('\n'),
    );
  });

  it('prints the JSON array with --json', () => {
    const json = formatKeyPreview(['maxTokens', 'top_p'], { json: true });
    expect(json).toBe(
      '[{"key":"maxTokens","normalized":"max_tokens","changed":true},' +
        '{"key":"top_p","normalized":"top_p","changed":false}]\n',
    );
    expect(JSON.parse(json)).toEqual(previewKeys(['maxTokens', 'top_p']));
  });

  it('keeps odd keys on one row each and visible', () => {
    // A newline is a separator, a bell is not; é is not ASCII, so it neither splits nor lowercases.
    expect(formatKeyPreview(['a\nB', 'a\u0007B', '-', 'éTat', '🚀'])).toBe(
      [
        'a\\u000aB  →  a_b',
        'a\\u0007B  →  a\\u0007b',
        '-         →  ""',
        'éTat      →  état',
        '🚀         →  🚀         (unchanged)',
        '',
      ].join('\n'),
    );
  });

  it('keeps JSON exact for odd keys (JSON escapes them itself)', () => {
    expect(JSON.parse(formatKeyPreview(['a\nB', '-'], { json: true }))).toEqual([
      { key: 'a\nB', normalized: 'a_b', changed: true },
      { key: '-', normalized: '', changed: true },
    ]);
  });
});

describe('rollout keys', () => {
  function program(): { program: Command; out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    const root = new Command('rollout')
      .exitOverride()
      .configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
    registerKeysCommand(root);
    return { program: root, out, err };
  }

  it('prints the table', async () => {
    const { program: root, out } = program();
    await root.parseAsync(['node', 'rollout', 'keys', 'maxTokens', 'top_p'], { from: 'node' });
    expect(out.join('')).toBe('maxTokens  →  max_tokens\ntop_p      →  top_p       (unchanged)\n');
  });

  it('prints JSON with --json', async () => {
    const { program: root, out } = program();
    await root.parseAsync(['node', 'rollout', 'keys', '--json', 'llm.maxTokens'], { from: 'node' });
    expect(JSON.parse(out.join(''))).toEqual([
      { key: 'llm.maxTokens', normalized: 'llm.max_tokens', changed: true },
    ]);
  });

  it('requires at least one key', async () => {
    const { program: root, out, err } = program();
    await expect(root.parseAsync(['node', 'rollout', 'keys'], { from: 'node' })).rejects.toBeInstanceOf(
      CommanderError,
    );
    expect(out).toEqual([]);
    expect(err.join('')).toMatch(/missing required argument 'key'/);
  });
});
