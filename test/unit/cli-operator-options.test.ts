import { NamespaceNotFoundError } from '@temporalio/client';
import type { Command } from 'commander';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cancelReason } from '../../src/cli/cancel-command';
import { readCliEnv, setEnvOverrides } from '../../src/cli/cli-context';
import { COMMAND_EXAMPLES } from '../../src/cli/command-examples';
import { connectionOverrides } from '../../src/cli/connection-options';
import { exitCodeFor, UsageError, WatchTimeoutError } from '../../src/cli/exit-codes';
import { parseDurationOption, parseFollowOptions } from '../../src/cli/follow-options';
import { createProgram, runCli, withoutLeadingSeparator } from '../../src/cli/main';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process with commander's output captured; only commands that fail before any service. */
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

/** Sets environment variables for the duration of `work`, then restores them exactly. */
async function withEnv<T>(vars: Record<string, string | undefined>, work: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    return await work();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-options-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => setEnvOverrides({}));

describe('connection options: flag > --env-file > environment > default', () => {
  const file = () => {
    const name = path.join(dir, 'staging.env');
    fs.writeFileSync(
      name,
      '# staging\nTEMPORAL_ADDRESS=temporal.staging:7233\nTEMPORAL_NAMESPACE="staging"\nDATABASE_URL=postgres://ci@db.staging/rollout\n',
    );
    return name;
  };

  it('connectionOverrides: the file, then the flags on top', () => {
    expect(connectionOverrides({})).toEqual({});
    expect(connectionOverrides({ envFile: file() })).toEqual({
      TEMPORAL_ADDRESS: 'temporal.staging:7233',
      TEMPORAL_NAMESPACE: 'staging',
      DATABASE_URL: 'postgres://ci@db.staging/rollout',
    });
    expect(
      connectionOverrides({ envFile: file(), address: '10.0.0.5:7233', namespace: 'prod' }),
    ).toMatchObject({
      TEMPORAL_ADDRESS: '10.0.0.5:7233',
      TEMPORAL_NAMESPACE: 'prod',
      DATABASE_URL: 'postgres://ci@db.staging/rollout',
    });
  });

  it.each([
    [{ address: 'no-port' }, '--address must be host:port'],
    [{ address: 'host:7233 ' }, '--address must be host:port'],
    [{ namespace: 'bad namespace' }, '--namespace is not a valid Temporal namespace name'],
    [{ namespace: '' }, '--namespace is not a valid Temporal namespace name'],
    [{ envFile: '/nonexistent/x.env' }, 'cannot read --env-file /nonexistent/x.env: ENOENT: no such file'],
  ])('refuses %j as a usage error', (options, message) => {
    expect(() => connectionOverrides(options)).toThrow(UsageError);
    expect(() => connectionOverrides(options)).toThrow(message);
  });

  it('each command reads the options over the environment (before or after the command name)', async () => {
    const envFile = file();
    await withEnv({ TEMPORAL_ADDRESS: 'from-env:1', TEMPORAL_NAMESPACE: 'env-ns' }, async () => {
      // `keys` needs no service; the program's hook sets the overrides before any command's action.
      await run('keys', 'a');
      expect(readCliEnv()).toMatchObject({ TEMPORAL_ADDRESS: 'from-env:1', TEMPORAL_NAMESPACE: 'env-ns' });
      await run('--env-file', envFile, 'keys', 'a');
      expect(readCliEnv()).toMatchObject({
        TEMPORAL_ADDRESS: 'temporal.staging:7233',
        TEMPORAL_NAMESPACE: 'staging',
        DATABASE_URL: 'postgres://ci@db.staging/rollout',
      });
      await run('keys', 'a', '--env-file', envFile, '--address', 'flag:2');
      expect(readCliEnv()).toMatchObject({ TEMPORAL_ADDRESS: 'flag:2', TEMPORAL_NAMESPACE: 'staging' });
      await run('--namespace', 'flag-ns', 'keys', 'a');
      expect(readCliEnv()).toMatchObject({ TEMPORAL_ADDRESS: 'from-env:1', TEMPORAL_NAMESPACE: 'flag-ns' });
      // Nothing leaks into the process environment.
      expect(process.env.TEMPORAL_NAMESPACE).toBe('env-ns');
    });
  });

  it('drops the `--` the wrapper puts first (so Node 20 leaves --env-file alone), and only that one', () => {
    expect(withoutLeadingSeparator(['node', 'main.ts', '--', 'list', '--env-file', 'x'])).toEqual([
      'node',
      'main.ts',
      'list',
      '--env-file',
      'x',
    ]);
    expect(withoutLeadingSeparator(['node', 'main.ts', 'keys', '--', '--x'])).toEqual([
      'node',
      'main.ts',
      'keys',
      '--',
      '--x',
    ]);
  });

  it('a missing --env-file is exit 2 with the reason', async () => {
    const result = await run('--', '--env-file', path.join(dir, 'none.env'), 'keys', 'a');
    expect(result.code).toBe(2);
    expect(result.err).toContain(
      `rollout: cannot read --env-file ${path.join(dir, 'none.env')}: ENOENT: no such file`,
    );
  });

  it('a bad option is exit 2 before anything is opened', async () => {
    const result = await run('--address', 'nope', 'keys', 'a');
    expect(result).toMatchObject({ code: 2, out: '' });
    expect(result.err).toContain('rollout: --address must be host:port');
  });

  it('--help documents the options and their precedence', async () => {
    const help = await run('--help');
    expect(help.out).toMatch(/--address <host:port> +Temporal frontend address/);
    expect(help.out).toMatch(/--namespace <name> +Temporal namespace/);
    expect(help.out).toMatch(/--env-file <path> +a dotenv file/);
    expect(help.out).toContain(
      'each setting comes from, first found: the option (--address, --namespace), the --env-file,\n  the environment',
    );
  });
});

describe('help with examples', () => {
  it('every command has examples in its --help', async () => {
    const names = createProgram().commands.map((command) => command.name());
    expect(names).toEqual(expect.arrayContaining(['watch', 'cancel', 'rollback', 'start', 'status']));
    for (const name of names) {
      expect({ name, examples: COMMAND_EXAMPLES[name]?.length ?? 0 }).toEqual({
        name,
        examples: expect.any(Number),
      });
      expect(COMMAND_EXAMPLES[name]!.length).toBeGreaterThan(0);
      const help = await run(name, '--help');
      expect(help.code).toBe(0);
      expect(help.out).toContain(`\nExamples:\n  $ ${COMMAND_EXAMPLES[name]![0]}`);
    }
  });
});

describe('watch --timeout and --progress-every', () => {
  it('parses durations with units', () => {
    expect(parseFollowOptions({ timeout: '30m', progressEvery: '2s' })).toEqual({
      timeoutMs: 1_800_000,
      progressEveryMs: 2_000,
    });
    expect(parseFollowOptions({})).toEqual({ timeoutMs: undefined, progressEveryMs: undefined });
    expect(parseDurationOption('--timeout', '250ms', { minMs: 1 })).toBe(250);
  });

  it.each([
    [['watch', 'r-1', '--timeout', '30'], '--timeout must be a duration such as 30s, 5m or 1h'],
    [['watch', 'r-1', '--timeout', 'soon'], '--timeout must be a duration'],
    [['watch', 'r-1', '--timeout', '0s'], '--timeout must be at least 1 ms'],
    [['watch', 'r-1', '--timeout', '8d'], '--timeout must be a duration'],
    [['watch', 'r-1', '--progress-every', '100ms'], '--progress-every must be at least 1000 ms'],
    [['start', 'plan.yaml', '--timeout', '5m'], '--timeout and --progress-every apply to --watch'],
  ])('%j is a usage error (exit 2) before any service is asked', async (args, message) => {
    const result = await run(...args);
    expect(result.code).toBe(2);
    expect(result.err).toContain(message);
  });

  it('a watch that timed out is exit 4; an unknown namespace is exit 2', () => {
    expect(exitCodeFor(new WatchTimeoutError('gave up'))).toBe(4);
    expect(exitCodeFor(new NamespaceNotFoundError('nope'))).toBe(2);
  });
});

describe('rollout cancel', () => {
  it('needs a reason (exit 2)', async () => {
    const result = await run('cancel', 'r-1');
    expect(result.code).toBe(2);
    expect(result.err).toContain("required option '--reason <text>' not specified");
  });

  it('cleans the reason: printable, trimmed, not empty, bounded', () => {
    expect(cancelReason('  window\u0007closed\n')).toBe('window closed');
    expect(() => cancelReason(' \n\t ')).toThrow('--reason must say why');
    expect(cancelReason('x'.repeat(1_000))).toHaveLength(1_000);
    expect(() => cancelReason('x'.repeat(1_001))).toThrow('--reason is 1001 characters; at most 1000');
  });

  it('an empty reason is exit 2 before any service is asked', async () => {
    const result = await run('cancel', 'r-1', '--reason', '   ');
    expect(result.code).toBe(2);
    expect(result.err).toContain('--reason must say why');
  });
});
