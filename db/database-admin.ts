import pg from 'pg';

/** Validated so a database name can be quoted safely into CREATE/DROP DATABASE. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function splitDatabaseUrl(connectionString: string): { name: string; maintenanceUrl: string } {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!DATABASE_NAME.test(name)) {
    throw new Error(`database name "${name}" must match ${DATABASE_NAME} (lowercase letters, digits, _)`);
  }
  url.pathname = '/postgres';
  return { name, maintenanceUrl: url.toString() };
}

async function withMaintenanceClient<T>(
  connectionString: string,
  action: (client: pg.Client, name: string) => Promise<T>,
): Promise<T> {
  const { name, maintenanceUrl } = splitDatabaseUrl(connectionString);
  const client = new pg.Client({ connectionString: maintenanceUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`PostgreSQL at ${new URL(maintenanceUrl).host} is not reachable: ${String(error)}`, {
      cause: error,
    });
  }
  try {
    return await action(client, name);
  } finally {
    await client.end();
  }
}

/** Creates the database named in the URL if it does not exist; returns true when it created it. */
export function createDatabaseIfMissing(connectionString: string): Promise<boolean> {
  return withMaintenanceClient(connectionString, async (client, name) => {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`create database "${name}"`);
    } catch (error) {
      // Another process created it between the check and the create.
      if ((error as { code?: string }).code === '42P04') return false;
      throw error;
    }
    return true;
  });
}

/** Drops the database named in the URL, ending its sessions first. Tests use it for their own databases. */
export function dropDatabase(connectionString: string): Promise<void> {
  return withMaintenanceClient(connectionString, async (client, name) => {
    await client.query(`drop database if exists "${name}" with (force)`);
  });
}
