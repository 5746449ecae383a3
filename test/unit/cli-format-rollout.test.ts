import { readLiveGates } from '../../src/cli/live-gates';
import { errorLabel, formatRollout, stageMarks } from '../../src/cli/format-rollout';
import type { RolloutView } from '../../src/cli/read-rollout';
import type { RolloutOutcome, RolloutPhase, RolloutStatus } from '../../workflows/rollout-status';

const stages = [
  { percent: 10, soakMs: 60_000, approval: false },
  { percent: 50, soakMs: 0, approval: false },
  { percent: 100, soakMs: 0, approval: false },
];

function status(overrides: Partial<RolloutStatus>): RolloutStatus {
  return {
    rolloutId: 'r-20261126-3fa9c1',
    flag: 'unified-config',
    project: 'default',
    environment: 'development',
    phase: 'ramp',
    outcome: 'running',
    stages,
    stageIndex: 0,
    percent: 10,
    soakEndsAt: null,
    preflight: null,
    backups: [],
    keyMigration: null,
    templateMigration: null,
    seeding: null,
    paused: false,
    pausedBy: null,
    awaitingApprovalStage: null,
    events: [],
    ignored: { count: 0, last: [] },
    error: null,
    rollbackFailures: [],
    operatorAction: null,
    continuedAsNew: 0,
    ...overrides,
  };
}

function view(overrides: Partial<RolloutView>): RolloutView {
  return {
    rolloutId: 'r-20261126-3fa9c1',
    execution: 'RUNNING',
    taskQueue: 'q',
    status: null,
    statusUnavailable: null,
    progress: null,
    liveGates: null,
    audit: [],
    ...overrides,
  };
}

describe('stageMarks', () => {
  it.each<[string, number | null, RolloutOutcome, string]>([
    ['before the ramp', null, 'running', '· 10% (soak 1m)  · 50%  · 100%'],
    ['soaking at stage 1', 0, 'running', '▶ 10% (soak 1m)  · 50%  · 100%'],
    ['at the last stage, still running', 2, 'running', '✓ 10% (soak 1m)  ✓ 50%  ▶ 100%'],
    ['completed: every stage is done', 2, 'completed', '✓ 10% (soak 1m)  ✓ 50%  ✓ 100%'],
    ['rolled back at stage 2', 1, 'rolled_back', '✓ 10% (soak 1m)  ✗ 50%  · 100%'],
    ['cancelled at stage 1', 0, 'cancelled', '✗ 10% (soak 1m)  · 50%  · 100%'],
  ])('%s', (_, stageIndex, outcome, marks) => {
    expect(stageMarks({ stages, stageIndex, outcome })).toBe(marks);
  });
});

describe('errorLabel', () => {
  it.each<[RolloutPhase, RolloutOutcome, string]>([
    ['rollback', 'running', 'rollback cause'],
    ['rollback', 'rolled_back', 'rollback cause'],
    ['ramp', 'cancelled', 'rollback cause'],
    ['rollback', 'rollback_failed', 'rollback cause'],
    ['preflight', 'failed', 'error'],
  ])('phase %s, outcome %s: %s', (phase, outcome, label) => {
    expect(errorLabel({ phase, outcome })).toBe(label);
  });
});

describe('formatRollout', () => {
  it("labels an operator's rollback reason as the rollback cause, not an error", () => {
    const text = formatRollout(
      view({
        execution: 'COMPLETED',
        status: status({
          phase: 'rollback',
          outcome: 'rolled_back',
          stageIndex: 1,
          percent: 0,
          error: 'rollback requested by alice@host: p99 doubled',
        }),
      }),
      'http://ui/x',
    );
    expect(text).toContain('  rollback cause rollback requested by alice@host: p99 doubled\n');
    expect(text).not.toMatch(/^ {2}error /m);
    expect(text).toContain('  stages      ✓ 10% (soak 1m)  ✗ 50%  · 100%\n');
    expect(text).toContain('  temporal    http://ui/x\n');
  });

  it('shows a completed rollout with every stage done', () => {
    const text = formatRollout(
      view({
        execution: 'COMPLETED',
        status: status({ phase: 'complete', outcome: 'completed', stageIndex: 2, percent: 100 }),
      }),
      'http://ui/x',
    );
    expect(text).toContain('✓ 10% (soak 1m)  ✓ 50%  ✓ 100%');
    expect(text).not.toContain('▶');
  });

  it('shows what a rollback left undone and what to do', () => {
    const text = formatRollout(
      view({
        status: status({
          phase: 'rollback',
          outcome: 'rollback_failed',
          error: 'gate errors failed',
          rollbackFailures: [{ phase: 'migrate-keys', error: 'backup table is gone' }],
          operatorAction: 'restore runtime_config by hand (README, runbook)',
        }),
      }),
      'http://ui/x',
    );
    expect(text).toContain('  NOT UNDONE  migrate-keys: backup table is gone\n');
    expect(text).toContain('  to do       restore runtime_config by hand (README, runbook)\n');
  });

  it("shows a running data phase's progress", () => {
    const text = formatRollout(
      view({
        status: status({ phase: 'migrate-keys', stageIndex: null, percent: 0 }),
        progress: {
          activity: 'migrateKeys',
          what: 'key migration',
          step: 'rename',
          unit: 'ids',
          done: 50_000,
          total: 200_000,
          counts: { renamed: 5_000 },
          attempt: 1,
          heartbeatAt: null,
        },
      }),
      'http://ui/x',
    );
    expect(text).toContain(
      '  progress    key migration (rename): 50,000/200,000 ids (25%) · renamed 5,000\n',
    );
  });

  it('shows the gates measuring now from the soak activity, else as of their last decision', () => {
    const measurement = {
      verdict: 'pass' as const,
      value: 0.4,
      threshold: 100,
      sample: 250,
      detail: 'd',
      at: 'x',
    };
    const pending = [
      {
        activityType: 'runStageGates',
        attempt: 1,
        heartbeatAt: null,
        details: {
          gates: [
            {
              tally: {
                gate: 'errors',
                measured: 12,
                failures: 0,
                consecutivePasses: 12,
                inconclusiveSince: null,
                last: [measurement],
              },
              state: {},
              sequence: 12,
              nextAtMs: 0,
              finalTaken: false,
            },
          ],
        },
      },
    ];
    const live = formatRollout(
      view({ status: status({ phase: 'ramp' }), liveGates: readLiveGates(pending) }),
      'http://ui/x',
    );
    expect(live).toContain(
      '  gate (live) errors: pass, value 0.4 vs threshold 100, sample 250 · 12 measured, 0 failed\n',
    );
    // Details this CLI does not understand are not shown (never a crash).
    expect(readLiveGates([{ ...pending[0]!, details: { gates: 'nope' } }])).toBeNull();
    expect(readLiveGates([])).toBeNull();

    const decided = formatRollout(
      view({
        status: status({
          phase: 'ramp',
          gates: {
            stage: 2,
            outcome: 'failed',
            gates: [
              {
                gate: 'errors',
                measured: 5,
                failures: 1,
                consecutivePasses: 0,
                inconclusiveSince: null,
                last: [{ ...measurement, verdict: 'fail', value: 120 }],
              },
            ],
          },
        }),
      }),
      'http://ui/x',
    );
    expect(decided).toContain(
      '  gate s2     errors: fail, value 120 vs threshold 100, sample 250 · 5 measured, 1 failed (stage failed)\n',
    );
  });

  it('shows operator messages the rollout ignored, with why', () => {
    const text = formatRollout(
      view({
        status: status({
          ignored: {
            count: 4,
            last: [
              {
                at: '2026-12-02T10:00:00.000Z',
                kind: 'ignored',
                message: 'resume signal from ana@ops ignored: the rollout is not paused',
              },
              {
                at: '2026-12-02T10:00:01.000Z',
                kind: 'ignored',
                message:
                  'pause signal ignored: only "actor" and "reason" are accepted (object, 40 characters of JSON)',
              },
            ],
          },
        }),
      }),
      'http://ui/x',
    );
    expect(text).toContain('  IGNORED     4 operator message(s) not acted on; the newest:\n');
    expect(text).toContain(
      '    2026-12-02T10:00:00.000Z  resume signal from ana@ops ignored: the rollout is not paused\n',
    );
    expect(text).toContain('only "actor" and "reason" are accepted');
  });
});

test('live gates: a gate name or verdict the plan could not have produced is not shown', () => {
  const tally = (gate: string, verdict: string) => ({
    activityType: 'runStageGates',
    attempt: 1,
    heartbeatAt: null,
    details: {
      gates: [
        {
          tally: {
            gate,
            measured: 1,
            failures: 0,
            last: [{ verdict, value: 1, threshold: 2, sample: 3 }],
          },
        },
      ],
    },
  });
  expect(readLiveGates([tally('errors', 'pass')])).toHaveLength(1);
  expect(readLiveGates([tally('errors\u001b[2J', 'pass')])).toBeNull();
  expect(readLiveGates([tally('errors', 'pass\u001b[31m')])).toBeNull();
});
