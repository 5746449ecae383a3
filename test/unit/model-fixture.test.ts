import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  MODEL_PROVIDERS,
  ModelFixtureError,
  modelKey,
  parseModelFixture,
  type ModelCatalogEntry,
} from '../../db/fixtures/model-catalog-schema';
import { MODEL_FIXTURE } from '../../activities/model-seeding/model-fixture';
import { projectRoot } from '../../src/config/load-dotenv';

const FIXTURE = path.join(projectRoot, MODEL_FIXTURE);
const raw: unknown = JSON.parse(readFileSync(FIXTURE, 'utf8'));

const valid: ModelCatalogEntry = {
  provider: 'openai',
  model_id: 'gpt-4o',
  display_name: 'GPT-4o',
  context_window: 128_000,
  max_output_tokens: 16_384,
  capabilities: ['chat', 'vision'],
  deprecated_on: null,
};

function problemsOf(input: unknown): string[] {
  let thrown: unknown;
  try {
    parseModelFixture(input, 'test.json');
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ModelFixtureError);
  const error = thrown as ModelFixtureError;
  expect(error.message).toContain('test.json');
  for (const problem of error.problems) expect(error.message).toContain(problem);
  return error.problems;
}

describe('db/fixtures/models.json', () => {
  const fixture = parseModelFixture(raw, FIXTURE);

  it('validates against the schema', () => {
    expect(fixture.models.length).toBeGreaterThan(20);
  });

  it('covers every provider with current (not deprecated) models', () => {
    for (const provider of MODEL_PROVIDERS) {
      const current = fixture.models.filter((m) => m.provider === provider && m.deprecated_on === null);
      // The provider in the compared value names the culprit in a failure.
      expect({ provider, enough: current.length >= 3 }).toEqual({ provider, enough: true });
    }
  });

  it('has unique (provider, model_id) keys', () => {
    const keys = fixture.models.map(modelKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('has sane figures: output within the context, windows between 4k and 10M tokens', () => {
    for (const model of fixture.models) {
      const figures = { key: modelKey(model), ...model };
      expect(figures.max_output_tokens).toBeLessThanOrEqual(figures.context_window);
      expect(figures.context_window).toBeGreaterThanOrEqual(4_096);
      expect(figures.context_window).toBeLessThanOrEqual(10_000_000);
      expect(figures.max_output_tokens).toBeGreaterThanOrEqual(1_024);
      expect(figures.capabilities).toContain('chat');
    }
  });

  it('dates deprecations no later than a few years after the as-of date', () => {
    const asOf = Date.parse(fixture.as_of);
    for (const model of fixture.models.filter((m) => m.deprecated_on !== null)) {
      expect(Date.parse(model.deprecated_on ?? '') - asOf).toBeLessThan(3 * 365 * 86_400_000);
    }
    expect(fixture.models.some((m) => m.deprecated_on !== null)).toBe(true);
  });
});

describe('parseModelFixture', () => {
  it('accepts a minimal fixture', () => {
    expect(parseModelFixture({ as_of: '2025-10-15', models: [valid] }).models).toEqual([valid]);
  });

  it('lists every problem with its path', () => {
    const problems = problemsOf({
      as_of: '2025-10-15',
      models: [
        { ...valid, provider: 'mistral' },
        { ...valid, model_id: 'GPT 4o' },
        { ...valid, context_window: 0 },
        { ...valid, max_output_tokens: 1.5 },
        { ...valid, capabilities: ['chat', 'telepathy'] },
        { ...valid, deprecated_on: '2025-13-01' },
        { ...valid, colour: 'blue' },
      ],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^models\[0\]\.provider: .*"anthropic"/),
      expect.stringMatching(/^models\[1\]\.model_id: /),
      expect.stringMatching(/^models\[2\]\.context_window: /),
      // A zero window also puts the output limit above it; both are named.
      'models[2].max_output_tokens: max_output_tokens must not exceed context_window',
      expect.stringMatching(/^models\[3\]\.max_output_tokens: .*int/),
      expect.stringMatching(/^models\[4\]\.capabilities\[1\]: /),
      expect.stringMatching(/^models\[5\]\.deprecated_on: /),
      expect.stringMatching(/^models\[6\]: .*colour/),
    ]);
  });

  it('rejects an output limit above the context window', () => {
    expect(problemsOf({ as_of: '2025-10-15', models: [{ ...valid, max_output_tokens: 200_000 }] })).toEqual([
      'models[0].max_output_tokens: max_output_tokens must not exceed context_window',
    ]);
  });

  it('rejects repeated keys and repeated capabilities', () => {
    expect(
      problemsOf({ as_of: '2025-10-15', models: [valid, { ...valid, display_name: 'GPT-4o again' }] }),
    ).toEqual(['models[1]: openai/gpt-4o repeats models[0]']);
    expect(
      problemsOf({ as_of: '2025-10-15', models: [{ ...valid, capabilities: ['chat', 'chat'] }] }),
    ).toEqual(['models[0].capabilities: capabilities must not repeat']);
  });

  it('rejects a fixture without models or as-of date', () => {
    expect(problemsOf({ models: [] })).toEqual([
      expect.stringMatching(/^as_of: /),
      expect.stringMatching(/^models: /),
    ]);
    expect(problemsOf([valid])).toHaveLength(1);
  });
});
