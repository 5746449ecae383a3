import os from 'node:os';

/**
 * Who runs the CLI, as `user@host`: what every command records as the actor (audit log, Temporal history).
 *
 * @example
 * operatorIdentity(); // 'alice@build-7'
 */
export function operatorIdentity(): string {
  return `${os.userInfo().username}@${os.hostname()}`;
}
