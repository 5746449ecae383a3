import path from 'node:path';
import { createDatabase } from '../../db/create-database';
import { createDatabaseIfMissing } from '../../db/database-admin';
import { migrateToLatest } from '../../db/migrate';
import type { Env } from '../config/env';
import { projectRoot } from '../config/load-dotenv';
import { ManagedProcesses } from './managed-process';
import { ensureTemporal } from './temporal-dev-server';
import { ensureUnleash } from './unleash-dev-server';

export type StackComponent = 'temporal' | 'unleash';

export interface StackOptions {
  root?: string;
  log?: (line: string) => void;
}

function dirs(root: string) {
  return {
    stateDir: path.join(root, '.state'),
    toolsDir: path.join(root, '.tools'),
    unleashEntry: path.join(root, 'node_modules', 'unleash-server', 'dist', 'server.js'),
  };
}

/** Creates the application database if missing and applies every pending Kysely migration. */
export async function preparePostgres(databaseUrl: string, log: (line: string) => void): Promise<void> {
  if (await createDatabaseIfMissing(databaseUrl))
    log(`created database ${new URL(databaseUrl).pathname.slice(1)}`);
  const db = createDatabase(databaseUrl, { applicationName: 'rollout-stack', maxConnections: 1 });
  try {
    const result = await migrateToLatest(db);
    for (const migration of result.results ?? []) log(`applied migration ${migration.migrationName}`);
  } finally {
    await db.destroy();
  }
}

/**
 * Brings up what the project needs and is missing, waits until each part is healthy, and returns what it
 * started (so the caller stops only that). PostgreSQL itself is the machine's; the stack manager creates its
 * databases and migrates them.
 *
 * @example
 * const { started } = await stackUp(readEnv());
 * // ... use Temporal, Unleash and Postgres ...
 * await stackDown(started);
 */
export async function stackUp(env: Env, options: StackOptions = {}): Promise<{ started: StackComponent[] }> {
  const log = options.log ?? ((line: string) => console.error(`[stack] ${line}`));
  const paths = dirs(options.root ?? projectRoot);
  const processes = new ManagedProcesses(paths.stateDir);
  await preparePostgres(env.DATABASE_URL, log);
  // Temporal and Unleash start in parallel: each takes seconds, Unleash's first start much longer.
  const results = await Promise.allSettled([
    ensureTemporal(
      { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE, uiUrl: env.TEMPORAL_UI_URL },
      processes,
      paths,
      log,
    ),
    ensureUnleash(
      {
        url: env.UNLEASH_URL,
        databaseUrl: env.UNLEASH_DATABASE_URL,
        adminToken: env.UNLEASH_ADMIN_TOKEN,
        clientToken: env.UNLEASH_CLIENT_TOKEN,
      },
      processes,
      paths.unleashEntry,
      log,
    ),
  ]);
  const started = (['temporal', 'unleash'] as const).filter((name) => processes.startedHere.has(name));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    // Undo only this call's own starts: a component that was already running belongs to someone else.
    await stackDown(started, options);
    throw failures.length === 1
      ? failures[0]
      : new AggregateError(
          failures,
          failures.map((f) => (f instanceof Error ? f.message : String(f))).join('; '),
        );
  }
  log(
    `ready: Postgres ${new URL(env.DATABASE_URL).host}, Temporal ${env.TEMPORAL_ADDRESS} ` +
      `(UI ${env.TEMPORAL_UI_URL}), Unleash ${env.UNLEASH_URL}` +
      (started.length ? ` — started ${started.join(', ')}` : ' — all reused'),
  );
  return { started };
}

/**
 * Stops components this project started (all that have a live pid file, or only `which`). A server the
 * stack manager did not start has no pid file and is never touched; a pid file whose pid now belongs to
 * another process (the recorded start time or command line differs) is removed without signalling anyone.
 */
export async function stackDown(
  which?: StackComponent[],
  options: StackOptions = {},
): Promise<StackComponent[]> {
  const log = options.log ?? ((line: string) => console.error(`[stack] ${line}`));
  const paths = dirs(options.root ?? projectRoot);
  const processes = new ManagedProcesses(paths.stateDir);
  const stopped: StackComponent[] = [];
  for (const name of which ?? (['temporal', 'unleash'] as const)) {
    const outcome = await processes.stop(name);
    if (outcome.status === 'stopped') stopped.push(name);
    if (outcome.status === 'not-ours') {
      log(
        `not stopping ${name}: pid ${outcome.pid} is not the process this project started (${outcome.reason}); ` +
          `removed the stale pid file`,
      );
    }
  }
  return stopped;
}
