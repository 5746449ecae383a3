import type { Command } from 'commander';
import { readEnv, type Env } from '../config/env';
import { UsageError } from './exit-codes';
import { openConnections, type RolloutConnections } from './rollout-connections';

/**
 * Variables set by the command line (`--env-file`, `--address`, `--namespace`) over the environment; set by
 * the program before each command runs (see connection-options.ts), so every command, including those
 * registered elsewhere, reads the same settings through {@link readCliEnv}.
 */
let envOverrides: Readonly<Record<string, string>> = {};

export function setEnvOverrides(overrides: Readonly<Record<string, string>>): void {
  envOverrides = { ...overrides };
}

/**
 * The environment with the command line's overrides on top, or a usage error (exit 2) naming each bad
 * variable: it is input the user can fix.
 */
export function readCliEnv(): Env {
  try {
    return readEnv({ ...process.env, ...envOverrides });
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
}

/** Runs a command body with open connections and closes them whatever happens. */
export async function withConnections<T>(work: (connections: RolloutConnections) => Promise<T>): Promise<T> {
  const connections = await openConnections(readCliEnv());
  try {
    return await work(connections);
  } finally {
    await connections.close();
  }
}

/** Commander's configured stdout writer, so tests capture output the same way as help text. */
export function writer(command: Command): (text: string) => void {
  return command.configureOutput().writeOut ?? ((text) => process.stdout.write(text));
}

/** Commander's configured stderr writer, for notices that must not mix with a command's (JSON) output. */
export function errorWriter(command: Command): (text: string) => void {
  return command.configureOutput().writeErr ?? ((text) => process.stderr.write(text));
}
