import fc from 'fast-check';
import { parseRolloutPlan } from '../../src/plan/rollout-plan';
import {
  MAX_CURRENT_DETAILS_CHARS,
  renderCurrentDetails,
  rolloutSummary,
} from '../../workflows/current-details';
import { initialStatus } from '../../workflows/rollout-start';
import type { RolloutStatus } from '../../workflows/rollout-status';

const plan = parseRolloutPlan({
  flag: 'unified-config',
  unleash: { environment: 'development' },
  stages: [
    { percent: 10, soak: '5m' },
    { percent: 50, soak: '5m', approval: true },
    { percent: 100, soak: '0s' },
  ],
});

function status(changes: Partial<RolloutStatus> = {}): RolloutStatus {
  return {
    ...initialStatus({ rolloutId: 'r-ui-1', plan, requestedBy: 'ana@ops' }, plan),
    ...changes,
  };
}

/** The value of a `| name | value |` row of the details table. */
function row(details: string, name: string): string | undefined {
  const line = details.split('\n').find((l) => l.startsWith(`| ${name} |`));
  return line?.slice(`| ${name} | `.length, -2);
}

describe('renderCurrentDetails (the Temporal UI current details)', () => {
  test('before the ramp: phase, the planned stages, nothing paused', () => {
    const details = renderCurrentDetails(status({ phase: 'backup' }));
    expect(details.split('\n')[0]).toBe('**Rollout** r-ui-1 · flag unified-config (default/development)');
    expect(row(details, 'Phase')).toBe('backup');
    expect(row(details, 'Stage')).toBe('not started (3 stages: 10% → 50% → 100%)');
    expect(row(details, 'Outcome')).toBe('running');
    expect(details).not.toContain('Paused');
  });

  test('stage numbers are 1-based: awaiting approval of the second stage says stage 2/3', () => {
    const details = renderCurrentDetails(
      status({ phase: 'ramp', stageIndex: 0, percent: 10, awaitingApprovalStage: 2 }),
    );
    expect(row(details, 'Stage')).toBe('1/3 at 10%');
    expect(row(details, '✋ Awaiting approval')).toBe('stage 2/3 (50%): send approve-stage');
  });

  test('paused: by whom and why (the newest pause reason), and what to do next', () => {
    const details = renderCurrentDetails(
      status({
        phase: 'ramp',
        stageIndex: 1,
        percent: 50,
        paused: true,
        pausedBy: 'gate:errors',
        events: [
          { at: '2026-12-02T10:00:00.000Z', kind: 'paused', message: 'paused by ana: lunch' },
          {
            at: '2026-12-02T10:05:00.000Z',
            kind: 'paused',
            message: 'paused by gate:errors: too few requests',
          },
          { at: '2026-12-02T10:05:01.000Z', kind: 'stage_reached', message: 'unrelated' },
        ],
      }),
    );
    expect(row(details, '⏸ Paused')).toBe('by gate:errors: paused by gate:errors: too few requests');
    expect(row(details, 'Next step')).toContain('resume-rollout');
  });

  test('a completed rollout shows every stage done; a rolled-back one its cause', () => {
    const done = renderCurrentDetails(
      status({ phase: 'complete', outcome: 'completed', stageIndex: 2, percent: 100 }),
    );
    expect(row(done, 'Stage')).toBe('3/3 at 100% (all stages done)');
    expect(row(done, 'Outcome')).toBe('✅ completed');
    const back = renderCurrentDetails(
      status({
        phase: 'rollback',
        outcome: 'rolled_back',
        stageIndex: 1,
        percent: 0,
        error: 'rollback requested by ana@ops: error rate',
      }),
    );
    expect(row(back, 'Outcome')).toBe('↩️ rolled back');
    // An ended rollout is not paused any more, whatever the last hold was.
    expect(
      renderCurrentDetails(
        status({ phase: 'rollback', outcome: 'rolled_back', paused: true, pausedBy: 'ana' }),
      ),
    ).not.toContain('Paused');
    // Where the ramp stopped, and the flag where the rollback left it.
    expect(row(back, 'Stage')).toBe('stopped at 2/3 (50%); flag now 0%');
    expect(row(back, 'Rollback cause')).toBe('rollback requested by ana@ops: error rate');
  });

  test('gate measurements: the newest per gate, 1-based stage', () => {
    const measurement = {
      verdict: 'pass' as const,
      value: 0.004,
      threshold: 0.005,
      sample: 1200,
      detail: 'x',
    };
    const details = renderCurrentDetails(
      status({
        phase: 'ramp',
        stageIndex: 1,
        percent: 50,
        gates: {
          stage: 2,
          outcome: 'passed',
          gates: [
            {
              gate: 'errors',
              measured: 12,
              failures: 0,
              consecutivePasses: 12,
              inconclusiveSince: null,
              last: [
                { ...measurement, value: 0.1, at: '2026-12-02T10:00:00.000Z' },
                { ...measurement, at: '2026-12-02T10:00:01.000Z' },
              ],
            },
          ],
        },
      }),
    );
    expect(details).toContain('**Gates, stage 2**: passed');
    expect(details).toContain('- errors: pass, value 0.004 vs threshold 0.005, sample 1200 (12 measured)');
  });

  test('outside text cannot break the Markdown table or grow the details past the bound', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2_000 }), fc.string({ maxLength: 2_000 }), (actor, message) => {
        const details = renderCurrentDetails(
          status({
            paused: true,
            pausedBy: actor,
            error: message,
            phase: 'rollback',
            events: Array.from({ length: 30 }, () => ({
              at: '2026-12-02T10:00:00.000Z',
              kind: 'paused',
              message,
            })),
          }),
        );
        expect(details.length).toBeLessThanOrEqual(MAX_CURRENT_DETAILS_CHARS);
        for (const line of details.split('\n').filter((l) => l.startsWith('| '))) {
          // Exactly the table's own three pipes per row: nothing from outside adds a column.
          expect(line.split('|')).toHaveLength(4);
        }
      }),
    );
  });
});

test('rolloutSummary: flag, where and the stages, one line', () => {
  expect(rolloutSummary(plan)).toBe('unified-config in default/development: 10% → 50% → 100%');
});
