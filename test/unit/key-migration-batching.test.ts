import {
  discardedRowsTableName,
  keyMigrationProgressSchema,
  nextDedupePage,
  pageAfter,
} from '../../activities/key-migration/key-migration';

describe('dedupe pages', () => {
  const complete = { key: 'b', userId: 'u2' };

  it('continues after the last complete group, NULL users sorting last within a key', () => {
    expect(pageAfter(null)).toEqual({ kind: 'start' });
    expect(pageAfter({ key: 'k', userId: null })).toEqual({ kind: 'after-key', key: 'k' });
    expect(pageAfter({ key: 'k', userId: 'u' })).toEqual({ kind: 'in-key', key: 'k', userId: 'u' });
  });

  it('moves on from a full page to the page after its last complete group', () => {
    expect(
      nextDedupePage(
        { kind: 'start' },
        { exhausted: false, lastComplete: complete, lastSeen: { key: 'c', userId: null } },
      ),
    ).toEqual({ next: { kind: 'in-key', key: 'b', userId: 'u2' }, cursor: complete });
  });

  it('reads a group alone when one group fills a whole page, then continues after it', () => {
    const huge = { key: 'hot', userId: null };
    const step = nextDedupePage(
      { kind: 'after-key', key: 'a' },
      { exhausted: false, lastComplete: null, lastSeen: huge },
    );
    expect(step).toEqual({ next: { kind: 'group', ...huge }, cursor: undefined });
    expect(
      nextDedupePage({ kind: 'group', ...huge }, { exhausted: true, lastComplete: huge, lastSeen: huge }),
    ).toEqual({
      next: { kind: 'after-key', key: 'hot' },
      cursor: huge,
    });
  });

  it('finishes a key, then the index', () => {
    const end = { exhausted: true, lastComplete: complete, lastSeen: complete };
    expect(nextDedupePage({ kind: 'in-key', key: 'b', userId: 'u1' }, end)).toEqual({
      next: { kind: 'after-key', key: 'b' },
      cursor: { key: 'b', userId: null },
    });
    expect(nextDedupePage({ kind: 'after-key', key: 'a' }, end)).toEqual({ next: null, cursor: undefined });
  });
});

describe('checkpoints and names', () => {
  it('accepts a checkpoint it wrote and rejects anything else', () => {
    const progress = {
      step: 'dedupe',
      renameCursor: 1_000,
      dedupeCursor: { key: 'max_tokens', userId: null },
      renameBatchSize: 500,
      dedupeBatchSize: 800,
      lastBatch: { step: 'dedupe', size: 800, batchMs: 12.5 },
      totals: {
        renamed: 1,
        discarded: 2,
        batches: 3,
        maxBatchMs: 4,
        maxStatementMs: 5,
        lockRetries: 0,
        timeoutRetries: 0,
      },
    };
    expect(keyMigrationProgressSchema.parse(progress)).toEqual(progress);
    expect(keyMigrationProgressSchema.safeParse({ ...progress, step: 'drop-table' }).success).toBe(false);
    expect(keyMigrationProgressSchema.safeParse({ ...progress, renameCursor: -1 }).success).toBe(false);
    expect(keyMigrationProgressSchema.safeParse(undefined).success).toBe(false);
  });

  it('names the discarded-rows table per rollout and refuses unsafe ids', () => {
    expect(discardedRowsTableName('r-20261126-ab12')).toBe('discarded_r_20261126_ab12_runtime_config');
    expect(() => discardedRowsTableName('x"; drop table runtime_config; --')).toThrow(/rollout id/);
  });
});
