import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClientFeaturesResponse, UnleashConfig } from 'unleash-client';

export type FlagBackupStorage = NonNullable<UnleashConfig['storageProvider']>;

/** The backup file of an app, named as unleash-client's own file storage names it (so either reads the other's). */
export function backupFileOf(dir: string, appName: string): string {
  return path.join(dir, `unleash-backup-${appName.replace(/\//g, '_')}.json`);
}

/**
 * unleash-client's file backup, written atomically: the state goes to a temporary file that is then renamed
 * over the backup. unleash-client's own provider rewrites the file in place, so a process killed mid-write
 * (or a reader racing the writer) finds a truncated file, and a restart while Unleash is down then has no
 * state at all. A rename is all-or-nothing on POSIX file systems.
 *
 * @example
 * new Unleash({ ..., storageProvider: createAtomicBackupStorage('/var/lib/config-service') });
 */
export function createAtomicBackupStorage(dir: string): FlagBackupStorage {
  return {
    async set(appName: string, data: ClientFeaturesResponse): Promise<void> {
      const file = backupFileOf(dir, appName);
      const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await writeFile(temporary, JSON.stringify(data));
        await rename(temporary, file);
      } catch (error) {
        await rm(temporary, { force: true }).catch(() => undefined);
        throw new Error(`writing the flag backup ${file} failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
    async get(appName: string): Promise<ClientFeaturesResponse | undefined> {
      const file = backupFileOf(dir, appName);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOENT') return undefined;
        throw new Error(`reading the flag backup ${file} failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (text.trim() === '') return undefined;
      try {
        return JSON.parse(text) as ClientFeaturesResponse;
      } catch (error) {
        throw new Error(`the flag backup ${file} is not valid JSON: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
  };
}
