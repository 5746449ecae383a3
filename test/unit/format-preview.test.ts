import { formatPreview } from '../../src/preview/format-preview';
import type { RolloutPreview } from '../../src/preview/rollout-preview';

function preview(overrides: Partial<RolloutPreview> = {}): RolloutPreview {
  return {
    plan: {
      source: 'plan.yaml',
      flag: 'unified-config',
      project: 'default',
      environment: 'development',
      phases: { migrateKeys: true, migrateTemplates: true, seedModels: true },
      stages: [
        { percent: 10, soakMs: 300_000, approval: false },
        { percent: 50, soakMs: 300_000, approval: true },
        { percent: 100, soakMs: 0, approval: false },
      ],
    },
    postgres: { version: '15.8', major: 15, supported: true },
    tables: [
      { table: 'runtime_config', exists: true, rows: 1234 },
      { table: 'prompt_templates', exists: true, rows: 3 },
      { table: 'model_catalog', exists: false, rows: null },
    ],
    keys: {
      rows: 1234,
      keysToRename: 25,
      distinctKeysToRename: 21,
      renameExamples: [{ from: 'maxTokens', to: 'max_tokens', rows: 5 }],
      duplicateGroups: 2,
      rowsToDiscard: 3,
      discardExamples: [
        { id: 4, key: 'max_tokens', group: { key: 'max_tokens', userId: 'alice' }, winnerId: 3 },
        { id: 1, key: 'maxTokens', group: { key: 'max_tokens', userId: null }, winnerId: 2 },
      ],
      constraintExists: false,
      uniqueIndex: 'invalid',
    },
    templates: {
      templates: 3,
      toMigrate: 1,
      alreadyNormal: 1,
      invalid: 1,
      conflicts: 1,
      unknownFields: 0,
      invalidTemplates: [{ templateId: 17, issues: ['temperature: must be at most 2'] }],
      onInvalid: 'quarantine',
    },
    models: {
      fixture: 'db/fixtures/models.json',
      models: 3,
      inserted: ['openai/gpt-5'],
      updated: [],
      unchanged: 2,
    },
    unleash: {
      project: 'default',
      environment: 'development',
      flag: 'unified-config',
      projectExists: true,
      environments: ['development'],
      environmentExists: true,
      flagExists: true,
      enabled: true,
      percent: 10,
      foreignStrategies: [],
      error: null,
    },
    blocking: [],
    ...overrides,
  };
}

describe('formatPreview', () => {
  it('shows the plan, each phase with counts and examples, and that it is ready', () => {
    const text = formatPreview(preview());
    expect(text).toContain('rollout plan plan.yaml: dry run, nothing was changed');
    expect(text).toContain('unified-config in default/development');
    expect(text).toContain('10% (soak 5m) → 50% (soak 5m) [approval] → 100%');
    expect(text).toMatch(/runtime_config\s+1,234 rows/);
    expect(text).toMatch(/model_catalog\s+MISSING/);
    expect(text).toMatch(/to rename\s+25 rows \(21 key spellings\)/);
    expect(text).toContain('maxTokens → max_tokens  (5 rows)');
    expect(text).toContain('… and 20 more spellings');
    expect(text).toContain('#4 max_tokens  group max_tokens / user alice  → #3 wins');
    expect(text).toContain('#1 maxTokens  group max_tokens / (global)  → #2 wins');
    expect(text).toContain('… and 1 more row');
    expect(text).toContain('missing (built by the migration) (an invalid index');
    expect(text).toContain('invalid            1 (onInvalid: quarantine: quarantined and left untouched)');
    expect(text).toContain('#17: temperature: must be at most 2');
    expect(text).toContain('spelling conflicts 1');
    expect(text).toContain('to insert 1, to update 0, unchanged 2');
    expect(text).toContain('flag         unified-config: exists, on, rollout at 10%');
    expect(text).toContain('foreign      none');
    expect(text).toContain('ready: no blocking problem found');
    expect(text).not.toContain('BLOCKING');
  });

  it('lists blocking problems and what Unleash lacks', () => {
    const text = formatPreview(
      preview({
        postgres: { version: '14.9', major: 14, supported: false },
        unleash: { ...preview().unleash, projectExists: false, environmentExists: null, flagExists: null },
        blocking: ['PostgreSQL 14.9 is older than 15', 'Unleash project default does not exist'],
      }),
    );
    expect(text).toContain('14.9 (TOO OLD');
    expect(text).toContain('project      default: MISSING');
    expect(text).not.toContain('environment  development');
    expect(text).toContain('BLOCKING: rollout start would fail (2 problems):');
    expect(text).toContain('  - Unleash project default does not exist');
    expect(text).not.toContain('ready:');
  });

  it('says which phases the plan skips and when Unleash cannot be read', () => {
    const text = formatPreview(
      preview({
        plan: {
          ...preview().plan,
          phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
        },
        keys: null,
        templates: null,
        models: null,
        unleash: { ...preview().unleash, error: 'Unleash admin API GET /x timed out after 10000 ms' },
        blocking: ['cannot read Unleash: timed out'],
      }),
    );
    expect(text).toContain('phases      backup → flag ramp');
    expect(text).toContain('keys          skipped (phases.migrateKeys: false)');
    expect(text).toContain('templates     skipped');
    expect(text).toContain('models        skipped');
    expect(text).toContain('unreachable: Unleash admin API GET /x timed out');
  });

  it('reports the defaults policy for invalid templates', () => {
    const text = formatPreview(preview({ templates: { ...preview().templates!, onInvalid: 'defaults' } }));
    expect(text).toContain('onInvalid: defaults: invalid fields dropped, recorded in quarantine');
  });
});
