import type { Command } from 'commander';
import packageJson from '../../package.json';
import { EXIT_CODES } from '../../src/cli/exit-codes';
import { createProgram, runCli } from '../../src/cli/main';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process with commander's output captured; only commands that need no service. */
async function run(...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const output = { writeOut: (s: string) => (out += s), writeErr: (s: string) => (err += s) };
  const configure = (command: Command) => {
    command.configureOutput(output);
    command.commands.forEach(configure);
  };
  const program = createProgram();
  configure(program);
  const saved = process.exitCode;
  try {
    const code = await runCli(['node', 'rollout', ...args], program);
    return { code, out, err };
  } finally {
    process.exitCode = saved;
  }
}

describe('rollout CLI: exit codes without any service', () => {
  it('--version prints the package version and exits 0', async () => {
    for (const flag of ['--version', '-V']) {
      expect(await run(flag)).toEqual({ code: 0, out: `${packageJson.version}\n`, err: '' });
    }
  });

  it('--help lists the commands and the exit codes, and exits 0', async () => {
    const help = await run('--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: rollout');
    expect(help.out).toMatch(/^ {2}watch /m);
    expect(help.out).toContain('Exit codes:');
    for (const { code, meaning } of EXIT_CODES) expect(help.out).toContain(`  ${code}  ${meaning}`);
  });

  it.each([
    [['no-such-command'], /unknown command 'no-such-command'/],
    [['status'], /missing required argument 'rolloutId'/],
    [['watch', 'r-1', '--no-such-option'], /unknown option '--no-such-option'/],
    [['keys'], /missing required argument 'key'/],
    // Checked before anything is sent: no Temporal is asked (an unreachable one would exit 3).
    [
      ['rollback', 'r-1', '--scope', 'partial'],
      /argument 'partial' is invalid\. Allowed choices are full, flag\./,
    ],
    [['pause', 'r-1', '--scope', 'flag'], /unknown option '--scope'/],
  ])('a usage error %j exits 2 and says why once', async (args, message) => {
    const result = await run(...args);
    expect(result.code).toBe(2);
    expect(result.out).toBe('');
    expect(result.err).toMatch(message);
    expect(result.err.match(message)).toHaveLength(1);
  });

  it('a command that succeeds exits 0', async () => {
    const result = await run('keys', 'maxTokens');
    expect(result).toEqual({ code: 0, out: 'maxTokens  →  max_tokens\n', err: '' });
  });

  it('an invalid plan exits 2 with the problems, before any service is asked', async () => {
    const result = await run('start', '/nonexistent/plan.yaml', '--id', 'r-test-1');
    expect(result.code).toBe(2);
    expect(result.err).toMatch(
      /^rollout: invalid rollout plan \/nonexistent\/plan\.yaml:\n {2}- cannot read the file: /,
    );
  });
});
