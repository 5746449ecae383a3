import { MAX_ACTOR_CHARS } from '../../workflows/operator-request';
import {
  MAX_EVENT_MESSAGE_CHARS,
  MAX_IGNORED_SHOWN,
  MAX_STATUS_EVENTS,
  STATUS_MAX_BYTES,
  type OperatorAnswer,
  MAX_STATUS_GATE_DETAIL_CHARS,
  type RolloutStatus,
} from '../../workflows/rollout-status';
import { MAX_SUMMARY_MEASUREMENTS } from '../../activities/gates/stage-gate-tally';
import { MAX_GATES } from '../../src/gates/gate-definition';

// Three UTF-8 bytes per UTF-16 unit is the worst a string can cost in JSON once control characters are gone
// (the workflow replaces them before anything reaches the status).
const widest = (chars: number) => '€'.repeat(chars);
const at = '2026-12-02T05:40:09.000Z';

/** Every field of the status at the size its producer caps it at. */
function worstCaseStatus(): RolloutStatus {
  const event = { at, kind: 'operator_message_ignored', message: widest(MAX_EVENT_MESSAGE_CHARS) };
  return {
    rolloutId: `r-${'a'.repeat(60)}`,
    flag: 'f'.repeat(100),
    project: 'p'.repeat(100),
    environment: 'e'.repeat(100),
    phase: 'rollback',
    outcome: 'rollback_failed',
    // The plan schema allows at most 20 stages.
    stages: Array.from({ length: 20 }, (_, i) => ({ percent: i + 1, soakMs: 604_800_000, approval: true })),
    stageIndex: 19,
    percent: 100,
    soakEndsAt: at,
    preflight: {
      postgresVersion: '15.14 (Debian 15.14-0+deb12u1)',
      tables: ['runtime_config', 'prompt_templates', 'model_catalog'].map((table) => ({ table, rows: 1e12 })),
      unleash: { flagExists: true, enabled: true, percent: 100 },
    },
    backups: ['runtime_config', 'prompt_templates', 'model_catalog'].map((table) => ({
      sourceTable: table,
      backupTable: `backup_${'r'.repeat(40)}__${table}`,
      rowCount: 1e12,
      checksum: 'c'.repeat(64),
      reused: false,
    })),
    keyMigration: null,
    templateMigration: null,
    seeding: { inserted: 1e6, updated: 1e6, unchanged: 1e6 },
    paused: true,
    pausedBy: widest(MAX_ACTOR_CHARS),
    awaitingApprovalStage: 20,
    // Gate names are at most 40 characters; a measurement's numbers at their longest JSON spelling.
    gates: {
      stage: 20,
      outcome: 'inconclusive',
      gates: Array.from({ length: MAX_GATES }, (_, i) => ({
        gate: `g${i}`.padEnd(40, 'x'),
        measured: 1e15,
        failures: 1e15,
        consecutivePasses: 1e15,
        inconclusiveSince: 1e15,
        last: Array.from({ length: MAX_SUMMARY_MEASUREMENTS }, () => ({
          verdict: 'inconclusive' as const,
          value: -Number.MAX_VALUE,
          threshold: -Number.MAX_VALUE,
          sample: -Number.MAX_VALUE,
          detail: widest(MAX_STATUS_GATE_DETAIL_CHARS),
          at,
        })),
      })),
    },
    events: Array.from({ length: MAX_STATUS_EVENTS }, () => event),
    ignored: { count: 1e9, last: Array.from({ length: MAX_IGNORED_SHOWN }, () => event) },
    error: widest(MAX_EVENT_MESSAGE_CHARS),
    rollbackFailures: ['migrate-keys', 'migrate-templates', 'seed-models', 'ramp'].map((phase) => ({
      phase: phase as RolloutStatus['phase'],
      error: widest(MAX_EVENT_MESSAGE_CHARS),
    })),
    operatorAction: widest(600),
    continuedAsNew: 1e6,
    cancelledBy: widest(MAX_ACTOR_CHARS),
  } as RolloutStatus;
}

test(`the status query stays under ${STATUS_MAX_BYTES / 1024} KB with every capped field full`, () => {
  const bytes = Buffer.byteLength(JSON.stringify(worstCaseStatus()));
  expect(bytes).toBeLessThan(STATUS_MAX_BYTES);
  // The reports of the data phases are counts (a few hundred bytes each), well inside the remaining room.
  expect(STATUS_MAX_BYTES - bytes).toBeGreaterThan(8 * 1024);
});

test('an operator answer is a few hundred bytes at most', () => {
  const answer: OperatorAnswer = {
    rolloutId: `r-${'a'.repeat(60)}`,
    phase: 'migrate-templates',
    outcome: 'running',
    percent: 100,
    stageIndex: 19,
    paused: true,
    pausedBy: widest(MAX_ACTOR_CHARS),
    awaitingApprovalStage: 20,
  };
  expect(Buffer.byteLength(JSON.stringify(answer))).toBeLessThan(1_024);
});
