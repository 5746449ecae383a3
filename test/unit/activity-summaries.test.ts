import fc from 'fast-check';
import { createActivities } from '../../activities';
import {
  activitySummary,
  MAX_ACTIVITY_SUMMARY_CHARS,
  withSummaries,
} from '../../workflows/activity-summaries';

const target = { project: 'default', environment: 'development', flag: 'unified-config' };

test('every activity has its own summary, from its input', () => {
  // The activity names as the worker registers them; none may fall back to its bare name.
  const names = Object.keys(createActivities({} as never));
  for (const name of names) {
    const summary = activitySummary(name, [
      { target, percent: 50, table: 'runtime_config', kind: 'x', stage: 1, gates: [], flag: 'f' },
    ]);
    expect(summary).not.toBe(name);
    expect(summary.length).toBeGreaterThan(5);
  }
  expect(activitySummary('writeFlagPercent', [{ target, percent: 50 }])).toBe(
    'flag unified-config → 50%, read back',
  );
  expect(activitySummary('setFlagPercent', [{ target, percent: 0 }])).toBe(
    'flag unified-config → 0% (rollback), until Unleash confirms',
  );
  expect(activitySummary('backupTable', [{ rolloutId: 'r-1', table: 'runtime_config' }])).toBe(
    'backup runtime_config',
  );
  expect(
    activitySummary('runStageGates', [
      { stage: 1, percent: 50, gates: [{ name: 'errors' }, { name: 'health' }] },
    ]),
  ).toBe('gates of stage 2 at 50%: errors, health');
});

test('a summary never fails and stays one short line, whatever the input', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('writeFlagPercent', 'runStageGates', 'recordEvent', 'nope'),
      fc.anything(),
      (name, input) => {
        const summary = activitySummary(name, [input]);
        expect(summary.length).toBeLessThanOrEqual(MAX_ACTIVITY_SUMMARY_CHARS);
      },
    ),
  );
});

test('withSummaries passes the summary and the arguments through executeWithOptions', async () => {
  const seen: unknown[] = [];
  const activity = Object.assign(() => Promise.resolve('plain'), {
    executeWithOptions: (options: object, args: unknown[]) => {
      seen.push(options, args);
      return Promise.resolve('with options');
    },
  });
  const proxy = withSummaries({ backupTable: activity });
  await expect(proxy.backupTable()).resolves.toBe('with options');
  expect(seen).toEqual([{ summary: 'backupTable' }, []]);
  seen.length = 0;
  await (proxy.backupTable as unknown as (input: object) => Promise<unknown>)({ table: 'model_catalog' });
  expect(seen).toEqual([{ summary: 'backup model_catalog' }, [{ table: 'model_catalog' }]]);
});

test('names of inherited members (constructor, toString) are not activities', () => {
  expect(activitySummary('constructor', [{}])).toBe('constructor');
  expect(activitySummary('toString', [{}])).toBe('toString');
  expect(activitySummary('__proto__', [{}])).toBe('__proto__');
});
