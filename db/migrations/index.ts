import type { Migration } from 'kysely';
import * as coreTables from './001-core-tables';
import * as toSnakeCaseFunction from './002-to-snake-case-function';
import * as runtimeConfigNotify from './003-runtime-config-notify';
import * as runtimeConfigWriteNormalization from './004-runtime-config-write-normalization';
import * as modelSeedingLedger from './005-model-seeding-ledger';
import * as templateQuarantine from './006-template-quarantine';
import * as rollbackFailedState from './007-rollback-failed-state';

/**
 * Every schema migration, in order. Listed statically (not read from disk) so the same list works from
 * TypeScript sources, compiled output and bundles. Data phases are activities, never migrations.
 */
export const migrations: Record<string, Migration> = {
  '001-core-tables': coreTables,
  '002-to-snake-case-function': toSnakeCaseFunction,
  '003-runtime-config-notify': runtimeConfigNotify,
  '004-runtime-config-write-normalization': runtimeConfigWriteNormalization,
  '005-model-seeding-ledger': modelSeedingLedger,
  '006-template-quarantine': templateQuarantine,
  '007-rollback-failed-state': rollbackFailedState,
};
