import {
  BatchSizer,
  discardedRowsTableName,
  isLockConflict,
  isStatementTimeout,
  keyMigrationProgressSchema,
  nextDedupePage,
  pageAfter,
  retryOnLockConflict,
} from '../../activities/key-migration/key-migration';

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('BatchSizer', () => {
  const options = { initial: 1_000, min: 100, max: 10_000, targetMs: 200 };

  it('grows by at most ×1.5 when batches are fast and shrinks by at most ÷2 when they are slow', () => {
    const sizer = new BatchSizer(options);
    expect(sizer.record(10)).toBe(1_500);
    expect(sizer.record(15)).toBe(2_250);
    const slow = new BatchSizer(options);
    expect(slow.record(5_000)).toBe(500);
  });

  it('follows a slowdown at once but a speedup only gradually', () => {
    const sizer = new BatchSizer(options);
    expect(sizer.record(200)).toBe(1_000);
    // Twice as slow: the next batch is sized for the new cost right away.
    expect(sizer.record(400)).toBe(500);
    // Fast batches (a quarter of that cost) move the estimate 30 % of the way each: 0.31, then 0.247 ms a row.
    expect(sizer.record(50)).toBe(645);
    expect(sizer.record(64.5)).toBe(809);
    // At half the target or more, growth is capped at ×1.2 (0.12 ms a row alone would allow 1,666).
    expect(new BatchSizer(options).record(120)).toBe(1_200);
  });

  it('judges a partly filled batch by what a full one would have taken', () => {
    const sizer = new BatchSizer(options);
    // A quarter-full page in 100 ms: a full one would take 400 ms.
    expect(sizer.record(100, 0.25)).toBe(500);
    // Almost empty: no information, no change.
    expect(sizer.record(1, 0.01)).toBe(500);
  });

  it('stays within its bounds', () => {
    const sizer = new BatchSizer(options);
    for (let i = 0; i < 20; i++) sizer.record(1);
    expect(sizer.current).toBe(10_000);
    for (let i = 0; i < 20; i++) sizer.record(100_000);
    expect(sizer.current).toBe(100);
    expect(new BatchSizer({ ...options, initial: 1 }).current).toBe(100);
  });

  it('drops to a quarter after a statement timeout', () => {
    const sizer = new BatchSizer(options);
    expect(sizer.shrink()).toBe(250);
    expect(sizer.shrink()).toBe(100);
  });
});

describe('retryOnLockConflict', () => {
  it.each(['55P03', '40P01', '40001'])('retries %s with backoff until the work succeeds', async (code) => {
    let calls = 0;
    const retries: number[] = [];
    const result = await retryOnLockConflict(
      async () => {
        calls++;
        if (calls < 3) throw pgError(code);
        return 'done';
      },
      { baseDelayMs: 1, onRetry: (_, attempt) => retries.push(attempt) },
    );
    expect(result).toBe('done');
    expect(retries).toEqual([1, 2]);
  });

  it('lets any other error through at once', async () => {
    let calls = 0;
    await expect(
      retryOnLockConflict(async () => {
        calls++;
        throw pgError('23505');
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(calls).toBe(1);
  });

  it('gives up after the last attempt with the lock error itself', async () => {
    let calls = 0;
    await expect(
      retryOnLockConflict(
        async () => {
          calls++;
          throw pgError('55P03');
        },
        { attempts: 4, baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ code: '55P03' });
    expect(calls).toBe(4);
  });

  it('classifies errors by SQLSTATE only', () => {
    expect(isLockConflict(pgError('40P01'))).toBe(true);
    expect(isLockConflict(new Error('lock timeout'))).toBe(false);
    expect(isLockConflict(undefined)).toBe(false);
    expect(isStatementTimeout(pgError('57014'))).toBe(true);
    expect(isStatementTimeout(pgError('57P01'))).toBe(false);
  });
});

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
