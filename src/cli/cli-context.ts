import type { Command } from 'commander';
import { readEnv } from '../config/env';
import { openConnections, type RolloutConnections } from './rollout-connections';

/** Runs a command body with open connections and closes them whatever happens. */
export async function withConnections<T>(work: (connections: RolloutConnections) => Promise<T>): Promise<T> {
  const connections = await openConnections(readEnv());
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
