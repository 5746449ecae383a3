import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { setEnvOverrides } from './cli-context';
import { UsageError } from './exit-codes';

export interface ConnectionOptions {
  address?: string;
  namespace?: string;
  envFile?: string;
}

/** The rule of `TEMPORAL_ADDRESS` (src/config/env.ts), checked here so the error names the option. */
const ADDRESS = /^[^:\s]+:\d+$/;
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** Precedence, for `rollout --help`. */
export const CONNECTION_HELP = `
Connection (like the Temporal CLI's --address, --namespace, --env-file; before or after the command):
  each setting comes from, first found: the option (--address, --namespace), the --env-file,
  the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DATABASE_URL, …), then .env or .env.example.
  An --env-file may set any variable of .env.example (DATABASE_URL, TEMPORAL_UI_URL, …), and its values
  win over the environment's.`;

/**
 * The variables the connection options set over the environment: every variable of `--env-file` (read with
 * Node's dotenv parser, the one `loadDotenv` uses), then `--address` and `--namespace` on top.
 *
 * @example
 * connectionOverrides({ address: '10.0.0.5:7233', envFile: 'staging.env' });
 * // { ...variables of staging.env, TEMPORAL_ADDRESS: '10.0.0.5:7233' }
 */
export function connectionOverrides(
  options: ConnectionOptions,
  readFile: (file: string) => string = (file) => readFileSync(file, 'utf8'),
): Record<string, string> {
  const overrides: Record<string, string> = {};
  if (options.envFile !== undefined) {
    let text: string;
    try {
      text = readFile(options.envFile);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const why =
        code === 'ENOENT' ? 'ENOENT: no such file' : error instanceof Error ? error.message : String(error);
      throw new UsageError(`cannot read --env-file ${options.envFile}: ${why}`, { cause: error });
    }
    Object.assign(overrides, parseEnv(text));
  }
  if (options.address !== undefined) {
    if (!ADDRESS.test(options.address))
      throw new UsageError(`--address must be host:port, e.g. 127.0.0.1:7233, not "${options.address}"`);
    overrides.TEMPORAL_ADDRESS = options.address;
  }
  if (options.namespace !== undefined) {
    if (!NAMESPACE.test(options.namespace))
      throw new UsageError(`--namespace is not a valid Temporal namespace name: "${options.namespace}"`);
    overrides.TEMPORAL_NAMESPACE = options.namespace;
  }
  return overrides;
}

/**
 * Adds the global `--address`, `--namespace` and `--env-file` options; before each command runs, their
 * values become what {@link readCliEnv} reads over the environment.
 */
export function addConnectionOptions(program: Command): Command {
  return program
    .option('--address <host:port>', 'Temporal frontend address (else TEMPORAL_ADDRESS)')
    .option('--namespace <name>', 'Temporal namespace (else TEMPORAL_NAMESPACE)')
    .option('--env-file <path>', 'a dotenv file whose variables override the environment')
    .hook('preAction', (command) => {
      setEnvOverrides(connectionOverrides(command.opts<ConnectionOptions>()));
    })
    .addHelpText('after', CONNECTION_HELP);
}
