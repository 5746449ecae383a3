import fc from 'fast-check';
import { backupTableName } from '../../activities/backup/table-backups';
import { newRolloutId } from '../../src/cli/new-rollout-id';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { BACKUP_TABLES } from '../../src/plan/rollout-plan';

/** Postgres truncates identifiers longer than NAMEDATALEN - 1 bytes, silently but for a NOTICE. */
const MAX_IDENTIFIER_BYTES = 63;
/** What Postgres accepts unquoted, and what every backup table name must be. */
const SAFE_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** A string of `first` then `rest` characters with a length drawn uniformly from min..max. */
function identifierArb(first: string, rest: string, min: number, max: number): fc.Arbitrary<string> {
  return fc
    .integer({ min, max })
    .chain((length) =>
      fc
        .tuple(
          fc.constantFrom(...first),
          fc.array(fc.constantFrom(...rest), { minLength: length - 1, maxLength: length - 1 }),
        )
        .map(([head, tail]) => head + tail.join('')),
    );
}

/** A table name backupTableName accepts: single underscores only, so `__` separates id and table. */
const ACCEPTED_TABLE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const TOO_LONG = /63-byte limit/;

/** What backupTableName must do, worked out independently: the name it returns, or the refusal it throws. */
function expectedBackupName(id: string, table: string): string | RegExp {
  if (!ROLLOUT_ID.test(id)) return /rollout id .* must match/;
  if (!ACCEPTED_TABLE.test(table)) return /table name .* must match/;
  const name = `backup_${id.replaceAll('-', '_')}__${table}`;
  return Buffer.byteLength(name) <= MAX_IDENTIFIER_BYTES ? name : TOO_LONG;
}

describe('newRolloutId', () => {
  it('is r-<yyyymmdd>-<6 hex> of the UTC day and matches ROLLOUT_ID', () => {
    const id = newRolloutId(new Date('2026-11-26T12:00:00Z'));
    expect(id).toMatch(/^r-20261126-[0-9a-f]{6}$/);
    expect(ROLLOUT_ID.test(id)).toBe(true);
    expect(newRolloutId(new Date('2026-01-02T23:59:59.999Z'))).toMatch(/^r-20260102-[0-9a-f]{6}$/);
  });

  it('defaults to today', () => {
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    const id = newRolloutId();
    // Straddling midnight UTC between the two calls is the only way this can differ.
    const dayAfter = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    expect([`r-${day}`, `r-${dayAfter}`]).toContain(id.slice(0, 10));
  });

  it('always matches ROLLOUT_ID and gives a usable backup table name', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01'), max: new Date('2999-12-31'), noInvalidDate: true }),
        (now) => {
          const id = newRolloutId(now);
          expect(id).toMatch(ROLLOUT_ID);
          for (const table of BACKUP_TABLES) {
            const name = backupTableName(id, table);
            expect(name).toMatch(SAFE_IDENTIFIER);
            expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
          }
        },
      ),
    );
  });

  it('is practically unique: 10,000 ids on one day collide no more than 24 random bits allow', () => {
    // 24 random bits (16,777,216 values). For n = 10,000 draws the expected number of colliding pairs is
    // n(n-1)/2 / 2^24 ≈ 2.98 (birthday bound), so some collisions are normal; a count above 15 has
    // probability < 1e-6 under a Poisson(2.98) and means the random part is much weaker than 24 bits
    // (e.g. a clock-seeded or truncated generator).
    const now = new Date('2026-11-26T00:00:00Z');
    const ids = Array.from({ length: 10_000 }, () => newRolloutId(now));
    const collisions = ids.length - new Set(ids).size;
    expect(collisions).toBeLessThanOrEqual(15);
    // The random part uses the whole hex alphabet in every position.
    for (let position = 11; position < 17; position += 1) {
      expect(new Set(ids.map((id) => id[position])).size).toBe(16);
    }
  });
});

describe('ROLLOUT_ID', () => {
  it.each([['r-20261126-ab12'], ['abc'], ['r-x'], ['a'.repeat(30)], ['release-2026-11-26-canary-01']])(
    'accepts %j',
    (id) => {
      expect(ROLLOUT_ID.test(id)).toBe(true);
    },
  );

  it.each([
    ['Bad_ID'],
    ['ab'],
    ['a'.repeat(31)],
    ['1-starts-with-digit'],
    ['-r-1'],
    ['r_1_2'],
    ['r-1;drop'],
    ['r 1 2'],
    ['r-1\n'],
    ['R-123'],
    ['r-ä12'],
    [''],
  ])('rejects %j', (id) => {
    expect(ROLLOUT_ID.test(id)).toBe(false);
  });
});

describe('backupTableName', () => {
  it('is backup_<id with underscores>__<table>', () => {
    expect(backupTableName('r-20261126-ab12', 'runtime_config')).toBe(
      'backup_r_20261126_ab12__runtime_config',
    );
    expect(backupTableName('abc', 'model_catalog')).toBe('backup_abc__model_catalog');
  });

  it('stays within 63 bytes for the longest allowed id and the longest backup table', () => {
    const longestId = `r${'-'.repeat(1)}${'x'.repeat(28)}`;
    expect(longestId).toMatch(ROLLOUT_ID);
    expect(longestId).toHaveLength(30);
    const longestTable = [...BACKUP_TABLES].sort((a, b) => b.length - a.length)[0]!;
    const name = backupTableName(longestId, longestTable);
    expect(name).toMatch(SAFE_IDENTIFIER);
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
  });

  // Its doc promises "at most 63 bytes": a longer name Postgres would truncate, and two backups could land in
  // the same table. Both sides of the limit are asserted, so neither a refusal too early nor a missing one passes.
  it('returns a name of exactly 63 bytes and refuses one byte more', () => {
    const longestId = 'r'.padEnd(30, 'x');
    const fittingTable = 't'.padEnd(
      MAX_IDENTIFIER_BYTES - 'backup_'.length - longestId.length - '__'.length,
      'x',
    );
    const name = backupTableName(longestId, fittingTable);
    expect(name).toBe(`backup_${longestId}__${fittingTable}`);
    expect(Buffer.byteLength(name)).toBe(MAX_IDENTIFIER_BYTES);
    expect(() => backupTableName(longestId, `${fittingTable}x`)).toThrow(/63-byte limit/);
  });

  it('returns the name for every id and table it should accept and refuses the rest, for the right reason (property)', () => {
    const outcomes = { returned: 0, tooLong: 0, badInput: 0 };
    fc.assert(
      fc.property(
        // Lengths drawn uniformly (stringMatching alone rarely produces the long names that matter here).
        identifierArb('abcdefghijklmnopqrstuvwxyz', 'abcdefghijklmnopqrstuvwxyz0123456789-', 3, 30),
        identifierArb('abcdefghijklmnopqrstuvwxyz_', 'abcdefghijklmnopqrstuvwxyz0123456789_', 1, 31),
        (id, table) => {
          const expected = expectedBackupName(id, table);
          if (typeof expected === 'string') {
            outcomes.returned += 1;
            const name = backupTableName(id, table);
            expect(name).toBe(expected);
            expect(name).toMatch(SAFE_IDENTIFIER);
            expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
          } else {
            outcomes[expected === TOO_LONG ? 'tooLong' : 'badInput'] += 1;
            expect(() => backupTableName(id, table)).toThrow(expected);
          }
        },
      ),
      { numRuns: 500 },
    );
    // The generators reach every branch, so the property cannot pass by refusing everything.
    expect(outcomes.returned).toBeGreaterThan(0);
    expect(outcomes.tooLong).toBeGreaterThan(0);
    expect(outcomes.badInput).toBeGreaterThan(0);
  });

  // fast-check cannot generate from ROLLOUT_ID's length lookahead: same shape, length filtered.
  const validRolloutId = fc
    .stringMatching(/^[a-z][a-z0-9]{0,9}(-[a-z0-9]{1,6}){0,4}$/)
    .filter((id) => ROLLOUT_ID.test(id));

  it('maps distinct rollout ids to distinct names for every backup table', () => {
    fc.assert(
      fc.property(
        validRolloutId,
        validRolloutId,
        fc.constantFrom(...BACKUP_TABLES),
        fc.constantFrom(...BACKUP_TABLES),
        (a, b, tableA, tableB) => {
          fc.pre(a !== b || tableA !== tableB);
          expect(backupTableName(a, tableA)).not.toBe(backupTableName(b, tableB));
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([
    ['Bad_ID'],
    ["r-1'; drop table runtime_config; --"],
    ['r-1"'],
    ['../r-1'],
    ['r-1 runtime_config'],
    ['ab'],
    ['a'.repeat(31)],
    [''],
  ])('rejects the rollout id %j', (id) => {
    expect(() => backupTableName(id, 'runtime_config')).toThrow(/rollout id .* must match/);
  });

  it.each([
    ['runtime_config; drop'],
    ['runtime_config"'],
    ['public.runtime_config'],
    ['Runtime_Config'],
    ['1table'],
    ['run time'],
    ['runtime__config'],
    ['runtime_config_'],
    [''],
  ])('rejects the table %j', (table) => {
    expect(() => backupTableName('r-20261126-ab12', table)).toThrow(/table name .* must match/);
  });

  it('refuses a name Postgres would truncate instead of shortening it', () => {
    expect(() => backupTableName('r'.padEnd(30, 'x'), 't'.padEnd(32, 'x'))).toThrow(/63-byte limit/);
  });

  it.each([['a0-'], ['r--x'], ['-abc'], ['abc-']])(
    'rejects the rollout id %j (hyphens only between words)',
    (id) => {
      expect(() => backupTableName(id, 'runtime_config')).toThrow(/rollout id .* must match/);
    },
  );
});
