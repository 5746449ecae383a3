import { sql } from 'kysely';
import { runKeyMigration } from '../../activities/key-migration/key-migration';
import { fingerprintTable } from '../../activities/backup/table-backups';
import { restoreKeys } from '../../activities/key-migration/key-restore';
import { backupRuntimeConfig, generateLegacyData } from '../helpers/config-fixtures';
import { createTestDatabase } from '../helpers/test-database';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);

function log(line: string): void {
  process.stderr.write(`[rollback bench] ${line}\n`);
}

/**
 * Full data rollback of the key-migration data set (ROWS rows, 10 % camelCase, 2 % duplicate groups, 20 %
 * global) after the migration, against the time the verified backup took on the same table. The restore
 * includes dropping the constraint, every batch and the final checksum verification; the backup includes
 * the copy with its indexes and both fingerprints.
 */
export default async function rollbackBench(): Promise<Record<string, number | string>> {
  const t = await createTestDatabase('bench_rollback');
  try {
    log(`generating ${ROWS} rows`);
    await generateLegacyData(t.db, { rows: ROWS, skipTriggers: true });
    await sql`vacuum analyze runtime_config`.execute(t.db);
    const rolloutId = 'r-bench-rollback';

    log('backup');
    const backupStarted = performance.now();
    const backup = await backupRuntimeConfig(t.db, rolloutId);
    const backupSeconds = (performance.now() - backupStarted) / 1000;
    log(`backup ${backupSeconds.toFixed(2)} s; migrating`);
    const migration = await runKeyMigration(t.db, { rolloutId });
    await sql`vacuum analyze runtime_config`.execute(t.db);

    log('restore');
    const report = await restoreKeys(t.db, {
      rolloutId,
      onProgress: ({ cursor, end }) => {
        if (cursor % 200_000 < 50_000) log(`  restored up to id ${cursor} of ${end}`);
      },
    });
    const restoreSeconds = report.seconds;
    const after = await fingerprintTable(t.db, 'runtime_config');
    const exact = after.rowCount === backup.rowCount && after.checksum === backup.checksum;
    log(`restore ${restoreSeconds.toFixed(2)} s; table equals backup: ${exact}`);
    return {
      rows: ROWS,
      restore_s: Number(restoreSeconds.toFixed(3)),
      backup_s: Number(backupSeconds.toFixed(3)),
      ratio: Number((restoreSeconds / backupSeconds).toFixed(3)),
      restored: report.restored,
      reinserted: report.reinserted,
      migrated_renamed: migration.renamed,
      migrated_discarded: migration.discarded,
      restored_exactly: String(exact),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    await t.drop();
  }
}
