import { Client, Connection } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { createDatabase } from '../../db/create-database';
import type { Database } from '../../db/schema';
import type { Env } from '../config/env';
import { ServiceUnreachableError } from './exit-codes';

/** What the CLI talks to; opened lazily per command and always closed. */
export interface RolloutConnections {
  env: Env;
  client: Client;
  db: Kysely<Database>;
  close(): Promise<void>;
}

export async function openConnections(env: Env): Promise<RolloutConnections> {
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS, connectTimeout: 5_000 }).catch(
    (error: unknown) => {
      throw new ServiceUnreachableError('Temporal', env.TEMPORAL_ADDRESS, error);
    },
  );
  const db = createDatabase(env.DATABASE_URL, { applicationName: 'rollout-cli', maxConnections: 2 });
  return {
    env,
    client: new Client({ connection, namespace: env.TEMPORAL_NAMESPACE }),
    db,
    close: async () => {
      await connection.close();
      await db.destroy();
    },
  };
}

/** The workflow's page in the Temporal Web UI. */
export function workflowUiUrl(env: Env, workflowId: string): string {
  return `${env.TEMPORAL_UI_URL.replace(/\/$/, '')}/namespaces/${encodeURIComponent(env.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(workflowId)}`;
}
