import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { sql } from 'kysely';
import pino from 'pino';
import type { ActivityDeps } from '../../activities/activity-deps';
import { migrateKeys } from '../../activities/key-migration/migrate-keys-activity';
import { restoreTable } from '../../activities/key-migration/restore-keys-activity';
import {
  KEY_UNIQUE_CONSTRAINT,
  type KeyMigrationProgress,
} from '../../activities/key-migration/key-migration';
import { fingerprintTable } from '../../activities/backup/table-backups';
import { backupRuntimeConfig, generateLegacyData } from '../helpers/config-fixtures';
import { activityAttempt, type ActivityAttempt } from '../helpers/activity-attempt';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';

// The activities as a worker runs them, in the SDK's mock activity environment (heartbeat details of the
// previous attempt, heartbeats, cancellation), but no server: the workflow tests run them on a real worker.

let t: TestDatabase;
let deps: ActivityDeps;

beforeAll(async () => {
  t = await createTestDatabase('key_migration_activity');
  deps = { db: t.db, unleash: undefined as never, logger: pino({ level: 'silent' }) };
});
afterAll(() => t?.drop());

beforeEach(async () => {
  await sql`alter table runtime_config drop constraint if exists ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(
    t.db,
  );
  await sql`truncate runtime_config restart identity`.execute(t.db);
});

function attempt(
  heartbeatDetails: unknown,
  attemptNumber = 1,
  onHeartbeat?: (details: unknown, self: ActivityAttempt) => void,
) {
  return activityAttempt({ heartbeatDetails, attempt: attemptNumber, onHeartbeat });
}

test('an attempt cancelled mid-phase leaves its checkpoint in heartbeats; the next attempt resumes from it', async () => {
  await generateLegacyData(t.db, { rows: 10_000 });
  await backupRuntimeConfig(t.db, 'r-act-0001');
  const input = { rolloutId: 'r-act-0001', targetBatchMs: 10, maxBatchSize: 500 };

  const first = attempt(undefined, 1, (details, self) => {
    if ((details as KeyMigrationProgress | undefined)?.totals?.batches === 8) self.cancel();
  });
  await expect(first.run(() => migrateKeys(deps, input))).rejects.toBeInstanceOf(CancelledFailure);
  const checkpoint = first.heartbeats.at(-1) as KeyMigrationProgress;
  expect(checkpoint.totals.batches).toBe(8);

  const second = attempt(checkpoint, 2);
  const report = await second.run(() => migrateKeys(deps, input));
  expect(report.resumedAt).toBe(checkpoint.step);
  // Its very first heartbeat still carries the previous checkpoint, never an empty one.
  expect(second.heartbeats[0]).toEqual(checkpoint);
  expect(report.verification.problems).toEqual([]);
  const migrated = await fingerprintTable(t.db, 'runtime_config');

  // Same data, one uninterrupted attempt: same end state.
  await sql`alter table runtime_config drop constraint ${sql.id(KEY_UNIQUE_CONSTRAINT)}`.execute(t.db);
  await sql`truncate runtime_config restart identity`.execute(t.db);
  await generateLegacyData(t.db, { rows: 10_000 });
  await backupRuntimeConfig(t.db, 'r-act-0002');
  const clean = await attempt(undefined).run(() => migrateKeys(deps, { ...input, rolloutId: 'r-act-0002' }));
  expect(await fingerprintTable(t.db, 'runtime_config')).toEqual(migrated);
  expect(clean.discarded).toBe(report.discarded);
});

test('garbage heartbeat details start the phase from the beginning instead of failing', async () => {
  await generateLegacyData(t.db, { rows: 500 });
  await backupRuntimeConfig(t.db, 'r-act-0003');
  const report = await attempt({ step: 'verify', surprise: true }).run(() =>
    migrateKeys(deps, { rolloutId: 'r-act-0003' }),
  );
  expect(report.resumedAt).toBeNull();
  expect(report.verification.keysNotNormalized).toBe(0);
});

test('bad input and a missing backup fail for good (non-retryable), before anything changes', async () => {
  await expect(
    attempt(undefined).run(() => migrateKeys(deps, { rolloutId: 'Robert"); drop' })),
  ).rejects.toMatchObject({
    nonRetryable: true,
    type: 'InvalidInput',
  });
  await expect(attempt(undefined).run(() => migrateKeys(deps, { rolloutId: 'r-act-none' }))).rejects.toEqual(
    expect.objectContaining({ nonRetryable: true, type: 'MissingBackup' }),
  );
  const failure = await attempt(undefined)
    .run(() => migrateKeys(deps, { rolloutId: 'r-act-none' }))
    .catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(ApplicationFailure);
});

test('the restore activity undoes the migration, and has nothing to do without a backup', async () => {
  await generateLegacyData(t.db, { rows: 2_000 });
  const backup = await backupRuntimeConfig(t.db, 'r-act-0004');
  await attempt(undefined).run(() => migrateKeys(deps, { rolloutId: 'r-act-0004' }));

  const restoring = attempt(undefined);
  const result = await restoring.run(() =>
    restoreTable(deps, { rolloutId: 'r-act-0004', table: 'runtime_config' }),
  );
  expect(result).toMatchObject({ droppedConstraints: [KEY_UNIQUE_CONSTRAINT], nothingToDo: false });
  expect(await fingerprintTable(t.db, 'runtime_config')).toEqual({
    rowCount: backup.rowCount,
    checksum: backup.checksum,
  });
  expect(restoring.heartbeats.length).toBeGreaterThan(0);

  expect(
    await attempt(undefined).run(() =>
      restoreTable(deps, { rolloutId: 'r-act-none', table: 'runtime_config' }),
    ),
  ).toEqual({
    table: 'runtime_config',
    skipped: 'no-backup',
  });
  await expect(
    attempt(undefined).run(() => restoreTable(deps, { rolloutId: 'r-act-0004', table: 'model_catalog' })),
  ).rejects.toMatchObject({ nonRetryable: true });
});
