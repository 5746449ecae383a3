import { defaultPayloadConverter } from '@temporalio/common';
import { msNumberToTs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { readDataProgress, totalsNeeded, type PendingActivity } from '../../src/cli/data-progress';
import { DataProgressReporter } from '../../src/cli/data-progress-reporter';
import { formatEta, formatProgressLine } from '../../src/cli/format-progress';
import { pendingActivities } from '../../src/cli/pending-activities';
import { ProgressRate } from '../../src/cli/progress-rate';
import { PassThrough } from 'node:stream';
import { TerminalBar, type ProgressBar } from '../../src/cli/terminal-bar';

function pending(activityType: string, details: unknown, attempt = 1): PendingActivity {
  return { activityType, details, attempt, heartbeatAt: null };
}

/** Heartbeat details as the key migration sends them (activities/key-migration/key-migration.ts). */
const keyDetails = (step: string, renameCursor: number) => ({
  step,
  renameCursor,
  dedupeCursor: null,
  renameBatchSize: 500,
  dedupeBatchSize: 5000,
  lastBatch: { step: 'rename', size: 500, batchMs: 120 },
  totals: {
    renamed: 1200,
    discarded: 3,
    batches: 14,
    maxBatchMs: 180,
    maxStatementMs: 150,
    lockRetries: 0,
    timeoutRetries: 0,
  },
});

describe('readDataProgress: heartbeat details of each data phase', () => {
  it('key migration, rename step: ids up to the cursor of the highest id', () => {
    const activity = pending('migrateKeys', keyDetails('rename', 120_000));
    expect(totalsNeeded(activity)).toBe('runtimeConfigMaxId');
    expect(readDataProgress(activity, { runtimeConfigMaxId: 200_000 })).toEqual({
      activity: 'migrateKeys',
      what: 'key migration',
      step: 'rename',
      unit: 'ids',
      done: 120_000,
      total: 200_000,
      counts: { renamed: 1200, discarded: 3, batches: 14 },
      attempt: 1,
      heartbeatAt: null,
    });
    // Rows inserted during the sweep can move the cursor past the total looked up earlier.
    expect(readDataProgress(activity, { runtimeConfigMaxId: 100_000 })?.total).toBe(120_000);
    expect(readDataProgress(activity)?.total).toBeNull();
  });

  it('key migration, later steps: the step and counts, no position', () => {
    const activity = pending('migrateKeys', keyDetails('dedupe', 200_000));
    expect(totalsNeeded(activity)).toBeNull();
    expect(readDataProgress(activity)).toMatchObject({ step: 'dedupe', done: null, total: null });
  });

  it('template migration: rows scanned of the backup row count', () => {
    const activity = pending('migrateTemplates', {
      cursor: 9000,
      batchSize: 5000,
      totals: {
        batches: 2,
        scanned: 8000,
        written: 7000,
        unchanged: 1000,
        raceRetries: 0,
        lockRetries: 0,
        timeoutRetries: 0,
        maxBatchMs: 90,
      },
      unknownFields: { total: 4, items: [] },
    });
    expect(totalsNeeded(activity)).toBe('templateRows');
    expect(readDataProgress(activity, { templateRows: 10_000 })).toMatchObject({
      what: 'template migration',
      unit: 'rows',
      done: 8000,
      total: 10_000,
      counts: { written: 7000, batches: 2, 'unknown fields': 4 },
    });
  });

  it('restores: cursor of end, both in the details', () => {
    expect(readDataProgress(pending('restoreTable', { cursor: 5000, end: 20_000 }, 3))).toMatchObject({
      what: 'restore of runtime_config',
      done: 5000,
      total: 20_000,
      attempt: 3,
    });
    expect(readDataProgress(pending('restoreTemplates', { cursor: 1, end: 2 }))?.what).toBe(
      'restore of prompt_templates',
    );
  });

  it.each([
    ['no heartbeat yet', undefined],
    ['a string', 'garbage'],
    ['negative cursor', { cursor: -1, end: 5 }],
    ['a fractional count', { cursor: 1.5, end: 5 }],
    ['an array', [1, 2]],
    ['null', null],
  ])('details that are not the expected shape (%s) give a progress without a position', (_, details) => {
    for (const type of ['migrateKeys', 'migrateTemplates', 'restoreTable']) {
      const progress = readDataProgress(pending(type, details), { runtimeConfigMaxId: 10, templateRows: 10 });
      expect(progress).toMatchObject({ activity: type, done: null });
      expect(formatProgressLine(progress!)).toMatch(/: started, no checkpoint yet$/);
    }
  });

  it('is null for activities that are not data phases', () => {
    expect(readDataProgress(pending('runStageGates', { any: 1 }))).toBeNull();
    expect(readDataProgress(pending('__proto__', {}))).toBeNull();
    expect(readDataProgress(pending('hasOwnProperty', {}))).toBeNull();
  });
});

describe('pendingActivities: the describe answer, decoded defensively', () => {
  it('decodes the first heartbeat detail, and turns an undecodable payload into something the schemas refuse', () => {
    const raw: temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse = {
      pendingActivities: [
        {
          activityType: { name: 'restoreTable' },
          heartbeatDetails: { payloads: [defaultPayloadConverter.toPayload({ cursor: 7, end: 9 })] },
          attempt: 2,
          lastHeartbeatTime: msNumberToTs(1_800_000_000_000),
        },
        {
          activityType: { name: 'migrateKeys' },
          heartbeatDetails: {
            payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{not json') }],
          },
          attempt: 1,
        },
        { activityType: null, heartbeatDetails: null },
      ],
    };
    const [restore, broken, unnamed] = pendingActivities(raw);
    expect(restore).toEqual({
      activityType: 'restoreTable',
      details: { cursor: 7, end: 9 },
      attempt: 2,
      heartbeatAt: '2027-01-15T08:00:00.000Z',
    });
    expect(readDataProgress(broken!)).toMatchObject({ activity: 'migrateKeys', done: null });
    expect(unnamed).toMatchObject({ activityType: '', details: undefined, attempt: 1 });
    expect(pendingActivities({})).toEqual([]);
  });
});

describe('ProgressRate', () => {
  it('measures the pace over its window and estimates the time left', () => {
    const rate = new ProgressRate(10_000);
    expect(rate.sample('k', 0, 0, 100_000)).toEqual({ perSecond: null, etaMs: null });
    expect(rate.sample('k', 20_000, 2_000, 100_000)).toEqual({ perSecond: 10_000, etaMs: 8_000 });
    // The window reaches back to the newest sample at least 10 s old: (2 s, 20,000), not the start (which
    // would give 80,000 / 17 s).
    rate.sample('k', 30_000, 12_000, 100_000);
    expect(rate.sample('k', 80_000, 17_000, 100_000).perSecond).toBe(4_000);
    expect(rate.sample('k', 80_000, 40_000, null)).toEqual({ perSecond: null, etaMs: null });
  });

  it('starts over for another phase and for a retry that resumed from an older checkpoint', () => {
    const rate = new ProgressRate();
    rate.sample('a', 0, 0, 10);
    rate.sample('a', 5, 1_000, 10);
    expect(rate.sample('b', 5, 2_000, 10)).toEqual({ perSecond: null, etaMs: null });
    rate.sample('b', 8, 3_000, 10);
    expect(rate.sample('b', 2, 4_000, 10)).toEqual({ perSecond: null, etaMs: null });
  });
});

describe('formatting', () => {
  it.each([
    [999, '1s'],
    [45_000, '45s'],
    [185_000, '3m 05s'],
    [3_720_000, '1h 02m'],
  ])('formatEta(%d) is %s', (ms, text) => {
    expect(formatEta(ms)).toBe(text);
  });

  it('formats a line with position, rate, ETA, counts and a retried attempt', () => {
    const progress = readDataProgress(pending('migrateKeys', keyDetails('rename', 120_000), 2), {
      runtimeConfigMaxId: 200_000,
    })!;
    expect(formatProgressLine(progress, { perSecond: 40_000, etaMs: 2_000 })).toBe(
      'key migration (rename): 120,000/200,000 ids (60%) · 40,000 ids/s · ETA 2s · renamed 1,200, discarded 3, batches 14 · attempt 2',
    );
    expect(formatProgressLine(progress, { perSecond: null, etaMs: null })).toContain('· — · ETA — ·');
    const dedupe = readDataProgress(pending('migrateKeys', keyDetails('dedupe', 1)))!;
    expect(formatProgressLine(dedupe, { perSecond: null, etaMs: null })).toBe(
      'key migration (dedupe): renamed 1,200, discarded 3, batches 14',
    );
  });
});

describe('DataProgressReporter', () => {
  const restore = (cursor: number) => readDataProgress(pending('restoreTable', { cursor, end: 10_000 }))!;

  it('without a terminal, writes a plain line at most every lineEveryMs', () => {
    let now = 1_000_000;
    const lines: string[] = [];
    const reporter = new DataProgressReporter({
      bar: null,
      write: (text) => lines.push(text),
      lineEveryMs: 5_000,
      now: () => now,
    });
    for (let cursor = 0; cursor <= 10_000; cursor += 1_000) {
      reporter.observe(restore(cursor));
      now += 1_000;
    }
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(
      `${new Date(1_000_000).toISOString()}  progress           restore of runtime_config: 0/10,000 ids (0%) · — · ETA —\n`,
    );
    expect(lines[1]).toContain('restore of runtime_config: 5,000/10,000 ids (50%) · 1,000 ids/s · ETA 5s');
    expect(lines.every((line) => line.endsWith('\n'))).toBe(true);
  });

  it('on a terminal, keeps one bar per phase, step and attempt, and clears it when the phase ends', () => {
    const calls: string[] = [];
    const bar: ProgressBar & { showing: string | null } = {
      showing: null,
      show(key, _format, total, value, payload) {
        this.showing = key;
        calls.push(`${key} ${value}/${total} ${String(payload.detail)}`);
      },
      stop() {
        this.showing = null;
        calls.push('stop');
      },
    };
    let now = 0;
    const reporter = new DataProgressReporter({
      bar,
      write: () => calls.push('line!'),
      now: () => (now += 1_000),
    });
    reporter.observe(restore(0));
    reporter.observe(restore(4_000));
    reporter.observe(null);
    expect(calls).toEqual([
      'data:restoreTable//1 0/10000 0/10,000 ids (0%) · — · ETA —',
      'data:restoreTable//1 4000/10000 4,000/10,000 ids (40%) · 4,000 ids/s · ETA 2s',
      'stop',
    ]);
    // A soak bar is not a data phase's to clear.
    bar.showing = 'soak:x';
    reporter.observe(null);
    expect(calls.filter((call) => call === 'stop')).toHaveLength(1);
    expect(bar.showing).toBe('soak:x');
  });
});

describe('TerminalBar (cli-progress) on a terminal', () => {
  it('draws the data phase bar with its position, rate and ETA, and restores the cursor when stopped', () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
    let out = '';
    stream.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const bar = new TerminalBar(stream);
    let now = 0;
    const reporter = new DataProgressReporter({ bar, write: () => undefined, now: () => (now += 1_000) });
    const restore = (cursor: number) => readDataProgress(pending('restoreTable', { cursor, end: 10_000 }));
    reporter.observe(restore(0));
    reporter.observe(restore(4_000));
    expect(bar.showing).toBe('data:restoreTable//1');
    reporter.observe(null);
    expect(bar.showing).toBeNull();
    expect(out).toContain(
      '  restore of runtime_config [----------------------------------------] 0/10,000 ids (0%) · — · ETA —',
    );
    expect(out).toContain(
      '  restore of runtime_config [================------------------------] 4,000/10,000 ids (40%) · 4,000 ids/s · ETA 2s',
    );
    // Cursor shown again at the end.
    expect(out.endsWith('\u001b[?25h\u001b[?7h\u001b8\n')).toBe(true);
  });
});
