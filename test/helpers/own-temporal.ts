import { Connection } from '@temporalio/client';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../src/config/load-dotenv';
import { ManagedProcesses } from '../../src/dev/managed-process';
import { locateTemporalCli } from '../../src/dev/temporal-cli';
import { searchAttributeFlags } from '../../src/temporal/search-attributes';
import { freePort } from './service-unleash';

export interface OwnTemporal {
  /** host:port of its frontend. */
  address: string;
  /** The SQLite file that keeps its state across a restart. */
  dbFile: string;
  /** The server's pid while it runs. */
  pid(): number | undefined;
  /** Starts it (again) on the same port and database file; resolves once it answers. */
  start(): Promise<void>;
  /** SIGKILL to its process group (a crash, no shutdown); resolves once the process is gone. Returns its pid. */
  kill(): Promise<number>;
  /** Stops it and removes its state directory. */
  dispose(): Promise<void>;
}

/** Whether anything accepts a TCP connection at host:port (false on ECONNREFUSED). */
export function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** True while a process with this pid exists. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function answers(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 }).catch(() => undefined);
  if (!connection) return false;
  try {
    await connection.withDeadline(Date.now() + 2_000, () => connection.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  } finally {
    await connection.close();
  }
}

/**
 * A Temporal dev server of the test's own (`temporal server start-dev`, headless, on free ports, its state in a
 * SQLite file of a temporary directory, the rollout's search attributes registered), so a test may kill and
 * restart it without touching the shared server every other test uses.
 *
 * @example
 * const temporal = await startOwnTemporal();
 * await temporal.kill(); // only this one
 * await temporal.start(); // same port, same workflows
 */
export async function startOwnTemporal(): Promise<OwnTemporal> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'own-temporal-'));
  const processes = new ManagedProcesses(stateDir);
  const cli = await locateTemporalCli(path.join(projectRoot, '.tools'), (line) =>
    process.stderr.write(`[temporal-cli] ${line}\n`),
  );
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const dbFile = path.join(stateDir, 'temporal.sqlite');
  const own: OwnTemporal = {
    address,
    dbFile,
    pid: () => processes.runningPid('temporal'),
    async start() {
      if (await acceptsConnections('127.0.0.1', port))
        throw new Error(`something already listens at ${address}; refusing to use it as our own`);
      processes.start({
        name: 'temporal',
        command: cli,
        args: [
          'server',
          'start-dev',
          '--headless',
          '--ip',
          '127.0.0.1',
          '--port',
          String(port),
          '--db-filename',
          dbFile,
          '--log-level',
          'warn',
          ...searchAttributeFlags().flatMap((flag) => ['--search-attribute', flag]),
        ],
      });
      const deadline = Date.now() + 90_000;
      while (!(await answers(address))) {
        if (!processes.isRunning('temporal'))
          throw new Error(`own Temporal exited; log:\n${processes.logTail('temporal')}`);
        if (Date.now() > deadline)
          throw new Error(`own Temporal did not answer within 90 s; log:\n${processes.logTail('temporal')}`);
        await sleep(200);
      }
    },
    async kill() {
      const pid = processes.runningPid('temporal');
      if (pid === undefined) throw new Error('own Temporal is not running');
      // Its own process group (ManagedProcesses starts it detached): nothing else is signalled.
      process.kill(-pid, 'SIGKILL');
      while (processExists(pid)) await sleep(20);
      await processes.stop('temporal'); // removes the pid file; the process is gone already
      return pid;
    },
    async dispose() {
      await processes.stop('temporal', 5_000);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  await own.start();
  return own;
}
