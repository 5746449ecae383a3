import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import path from 'node:path';
import { rolloutSearchAttributes, searchAttributeFlags } from '../temporal/search-attributes';
import type { ManagedProcesses } from './managed-process';
import { locateTemporalCli } from './temporal-cli';
import { waitUntilHealthy } from './wait-until-healthy';

const { IndexedValueType } = temporal.api.enums.v1;
const indexedType = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
} as const;

export interface TemporalTarget {
  address: string;
  namespace: string;
  uiUrl: string;
}

async function connectOnce(address: string): Promise<Connection> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    await connection.withDeadline(Date.now() + 2_000, () => connection.workflowService.getSystemInfo({}));
    return connection;
  } catch (error) {
    await connection.close();
    throw error;
  }
}

async function isHealthy(address: string): Promise<boolean> {
  const connection = await connectOnce(address);
  await connection.close();
  return true;
}

/** A server we reuse may predate a search attribute; adding what is missing keeps the UI list filterable. */
async function ensureSearchAttributes(target: TemporalTarget): Promise<void> {
  const connection = await connectOnce(target.address);
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace: target.namespace });
    const known = { ...existing.customAttributes, ...existing.systemAttributes };
    const missing = rolloutSearchAttributes.filter((key) => !(key.name in known));
    if (missing.length === 0) return;
    await connection.operatorService.addSearchAttributes({
      namespace: target.namespace,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [key.name, indexedType[key.type as keyof typeof indexedType]]),
      ),
    });
  } finally {
    await connection.close();
  }
}

function hostPort(address: string): { host: string; port: string } {
  const index = address.lastIndexOf(':');
  return { host: address.slice(0, index), port: address.slice(index + 1) };
}

/**
 * Reuses a Temporal server that answers at `target.address`, else starts `temporal server start-dev` with
 * its state in `stateDir` (a SQLite file, so workflows survive a restart of the dev server).
 * Returns true when it started one.
 */
export async function ensureTemporal(
  target: TemporalTarget,
  processes: ManagedProcesses,
  dirs: { stateDir: string; toolsDir: string },
  log: (line: string) => void,
): Promise<boolean> {
  const component = `Temporal at ${target.address}`;
  let started = false;
  if (!(await isHealthy(target.address).catch(() => false))) {
    const cli = await locateTemporalCli(dirs.toolsDir, log);
    const { host, port } = hostPort(target.address);
    const uiPort = new URL(target.uiUrl).port || '8233';
    log(`starting ${component} (dev server, Web UI ${target.uiUrl})`);
    processes.start({
      name: 'temporal',
      command: cli,
      args: [
        'server',
        'start-dev',
        '--ip',
        host,
        '--port',
        port,
        '--ui-port',
        uiPort,
        '--namespace',
        target.namespace,
        '--db-filename',
        path.join(dirs.stateDir, 'temporal.sqlite'),
        '--log-level',
        'warn',
        ...searchAttributeFlags().flatMap((flag) => ['--search-attribute', flag]),
      ],
    });
    started = true;
    await waitUntilHealthy(() => isHealthy(target.address), {
      component,
      timeoutMs: 90_000,
      stillWorthWaiting: () =>
        processes.isRunning('temporal') || `it exited; log:\n${processes.logTail('temporal')}`,
    });
  }
  await ensureSearchAttributes(target);
  return started;
}
