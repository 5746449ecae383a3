import { BatchRunner, type BatchTotals } from '../../db/batch-runner';
import { BatchSizer } from '../../db/batch-sizer';
import { isLockConflict, isStatementTimeout, retryOnLockConflict } from '../../db/lock-retry';

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

describe('BatchRunner', () => {
  const zero = (): BatchTotals => ({ batches: 0, maxBatchMs: 0, lockRetries: 0, timeoutRetries: 0 });
  const sizer = () => new BatchSizer({ initial: 1_000, min: 100, max: 10_000 });

  it('retries a batch that hit the statement timeout with a quarter of the size, and counts it', async () => {
    const totals = zero();
    const sizes: number[] = [];
    const runner = new BatchRunner({ what: 'test phase', totals });
    const result = await runner.run(sizer(), async (size) => {
      sizes.push(size);
      if (size > 100) throw pgError('57014');
      return { batchMs: 7 };
    });
    expect(result).toEqual({ batchMs: 7 });
    expect(sizes).toEqual([1_000, 250, 100]);
    expect(totals).toEqual({ batches: 1, maxBatchMs: 7, lockRetries: 0, timeoutRetries: 2 });
  });

  it('lets the timeout through once the size is at its minimum, or a fixed size cannot shrink', async () => {
    const runner = new BatchRunner({ what: 'test phase' });
    const sizes: number[] = [];
    const timeout = async (size: number): Promise<{ batchMs: number }> => {
      sizes.push(size);
      throw pgError('57014');
    };
    await expect(runner.run(sizer(), timeout)).rejects.toMatchObject({ code: '57014' });
    expect(sizes).toEqual([1_000, 250, 100]);
    sizes.length = 0;
    await expect(runner.run(BatchSizer.fixed(500), timeout)).rejects.toMatchObject({ code: '57014' });
    expect(sizes).toEqual([500]);
  });

  it('retries a lock conflict at the same size and counts it; other errors go through at once', async () => {
    const totals = zero();
    const runner = new BatchRunner({ what: 'test phase', totals, retry: { baseDelayMs: 1 } });
    const sizes: number[] = [];
    await runner.run(sizer(), async (size) => {
      sizes.push(size);
      if (sizes.length < 3) throw pgError('55P03');
      return { batchMs: 1 };
    });
    expect(sizes).toEqual([1_000, 1_000, 1_000]);
    expect(totals.lockRetries).toBe(2);
    await expect(
      runner.run(sizer(), async () => {
        throw pgError('23505');
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(totals.batches).toBe(1);
  });

  it('sweeps until done, checkpointing after each batch, and stops between batches once cancelled', async () => {
    const controller = new AbortController();
    const events: string[] = [];
    let cursor = 0;
    const runner = new BatchRunner({
      what: 'test phase',
      signal: controller.signal,
      checkpoint: () => events.push(`checkpoint ${cursor}`),
    });
    const sweep = {
      more: () => cursor < 3,
      batch: async () => {
        events.push(`batch ${cursor}`);
        return { batchMs: 1 };
      },
      after: () => {
        cursor++;
        if (cursor === 2) controller.abort();
      },
    };
    await expect(runner.sweep(sizer(), sweep)).rejects.toThrow('test phase cancelled');
    expect(events).toEqual(['batch 0', 'checkpoint 1', 'batch 1', 'checkpoint 2']);
    controller.abort();
    const reason = new Error('worker shutting down');
    const cancelled = new AbortController();
    cancelled.abort(reason);
    await expect(
      new BatchRunner({ what: 'test phase', signal: cancelled.signal }).sweep(sizer(), sweep),
    ).rejects.toBe(reason);
  });
});
