import fc from 'fast-check';
import { toSnakeCase } from '../../src/naming/to-snake-case';
import { KNOWN_LLM_PARAM_FIELDS, LlmParams } from '../../src/schemas/generation-params';
import {
  normalizeLlmPreferences,
  type NormalizeResult,
  type PreferenceOps,
} from '../../activities/template-migration/normalize-llm-preferences';

/** What the migration's SQL does with `ops` (db/template-migration.ts), in TypeScript. */
function applyOps(input: Record<string, unknown>, ops: PreferenceOps): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(input).flatMap(([key, value]) => {
      if (!Object.hasOwn(ops, key)) return [[key, value]];
      const target = ops[key];
      return target === null || target === undefined ? [] : [[target, value]];
    }),
  );
}

function expectStatus<S extends NormalizeResult['status']>(
  result: NormalizeResult,
  status: S,
): Extract<NormalizeResult, { status: S }> {
  expect(result.status).toBe(status);
  return result as Extract<NormalizeResult, { status: S }>;
}

describe('normalizeLlmPreferences: mapping', () => {
  test('maps camelCase fields and keeps temperature and already-snake fields (the seed dropped them)', () => {
    const input = {
      maxTokens: 256,
      topP: 0.9,
      topK: 40,
      frequencyPenalty: 0.5,
      presencePenalty: -0.5,
      stopSequences: ['END'],
      temperature: 0.2,
      system_prompt: 'Be brief.',
      reasoningEffort: 'low',
    };
    const result = expectStatus(normalizeLlmPreferences(input), 'migrate');
    expect(result.preferences).toEqual({
      max_tokens: 256,
      top_p: 0.9,
      top_k: 40,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      stop_sequences: ['END'],
      temperature: 0.2,
      system_prompt: 'Be brief.',
      reasoning_effort: 'low',
    });
    expect(result.ops).toEqual({
      maxTokens: 'max_tokens',
      topP: 'top_p',
      topK: 'top_k',
      frequencyPenalty: 'frequency_penalty',
      presencePenalty: 'presence_penalty',
      stopSequences: 'stop_sequences',
      reasoningEffort: 'reasoning_effort',
    });
    expect(result.conflicts).toEqual([]);
    expect(result.unknownFields).toEqual([]);
  });

  test('maps every spelling the naming rule normalizes, not only a fixed table', () => {
    const result = expectStatus(
      normalizeLlmPreferences({ MaxTokens: 5, 'top-p': 0.5, ToolChoice: 'auto', parallelToolCalls: true }),
      'migrate',
    );
    expect(result.preferences).toEqual({
      max_tokens: 5,
      top_p: 0.5,
      tool_choice: 'auto',
      parallel_tool_calls: true,
    });
  });

  test('a snake_case, valid value is a fixed point: nothing to write', () => {
    expect(normalizeLlmPreferences({ temperature: 0.7, max_tokens: 100, stop_sequences: [] })).toEqual({
      status: 'normal',
      unknownFields: [],
    });
    expect(normalizeLlmPreferences({})).toEqual({ status: 'normal', unknownFields: [] });
  });

  test('nested values are never rewritten (tool_choice keeps its inner keys)', () => {
    const toolChoice = { type: 'function', function: { name: 'get_weather' } };
    const result = expectStatus(normalizeLlmPreferences({ toolChoice }), 'migrate');
    expect(result.preferences).toEqual({ tool_choice: toolChoice });
  });
});

describe('normalizeLlmPreferences: both spellings', () => {
  test('resolves to the snake_case value and reports both values', () => {
    const result = expectStatus(normalizeLlmPreferences({ maxTokens: 256, max_tokens: 512 }), 'migrate');
    expect(result.preferences).toEqual({ max_tokens: 512 });
    expect(result.ops).toEqual({ maxTokens: null });
    expect(result.conflicts).toEqual([
      {
        field: 'max_tokens',
        kept: { key: 'max_tokens', value: 512 },
        dropped: [{ key: 'maxTokens', value: 256 }],
        agreed: false,
      },
    ]);
  });

  test('resolves to snake_case even when the snake_case value comes first or the values agree', () => {
    const first = expectStatus(normalizeLlmPreferences({ top_p: 0.5, topP: 0.9 }), 'migrate');
    expect(first.preferences).toEqual({ top_p: 0.5 });
    const agreed = expectStatus(normalizeLlmPreferences({ topP: 0.5, top_p: 0.5 }), 'migrate');
    expect(agreed.conflicts).toMatchObject([{ field: 'top_p', agreed: true }]);
  });

  test('a snake_case value that is invalid is not replaced by the valid other spelling', () => {
    const result = expectStatus(normalizeLlmPreferences({ maxTokens: 10, max_tokens: 0 }), 'invalid');
    expect(result.issues).toEqual(['max_tokens: must be at least 1']);
  });

  test('two non-snake spellings: equal values collapse, different values are invalid and named', () => {
    const same = expectStatus(normalizeLlmPreferences({ maxTokens: 5, MaxTokens: 5 }), 'migrate');
    expect(same.preferences).toEqual({ max_tokens: 5 });
    const different = expectStatus(normalizeLlmPreferences({ maxTokens: 5, MaxTokens: 6 }), 'invalid');
    expect(different.issues).toEqual([
      'max_tokens: given as maxTokens (5) and MaxTokens (6) with different values and no max_tokens spelling to prefer',
    ]);
  });
});

describe('normalizeLlmPreferences: unknown fields', () => {
  test('are kept exactly as spelt and reported', () => {
    const result = expectStatus(
      normalizeLlmPreferences({ maxTokens: 5, customerTier: 'gold', legacy_flag: true, temprature: 0.3 }),
      'migrate',
    );
    expect(result.preferences).toEqual({
      max_tokens: 5,
      customerTier: 'gold',
      legacy_flag: true,
      temprature: 0.3,
    });
    expect(result.unknownFields).toEqual(['customerTier', 'legacy_flag', 'temprature']);
    expect(Object.keys(result.ops)).toEqual(['maxTokens']);
  });

  test('do not make an otherwise normal value change', () => {
    expect(normalizeLlmPreferences({ temperature: 1, teamId: 7 })).toEqual({
      status: 'normal',
      unknownFields: ['teamId'],
    });
  });

  test('a "__proto__" key stays an ordinary key', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "topK": 3}') as Record<string, unknown>;
    const result = expectStatus(normalizeLlmPreferences(input), 'migrate');
    expect(Object.keys(result.preferences).sort()).toEqual(['__proto__', 'top_k']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('normalizeLlmPreferences: invalid values', () => {
  test('reports zod issues naming the key as the template spells it, and offers no repair by default', () => {
    const result = expectStatus(
      normalizeLlmPreferences({ temperature: 7, topP: 0, maxTokens: 'many' }),
      'invalid',
    );
    expect(result.issues).toEqual([
      'temperature: must be at most 2',
      'max_tokens (given as maxTokens): must be a number, got "many"',
      'top_p (given as topP): must be greater than 0 (use temperature 0 for greedy decoding)',
    ]);
    expect(result.repair).toBeNull();
  });

  test.each([
    ['a string', '{"maxTokens": 5}', 'llm_preferences: must be an object, got "{"maxTokens": 5}"'],
    ['a list', [1, 2], 'llm_preferences: must be an object, got a list'],
    ['null', null, 'llm_preferences: must be an object, got null'],
    ['a number', 42, 'llm_preferences: must be an object, got 42'],
    ['a boolean', true, 'llm_preferences: must be an object, got true'],
  ])('%s is invalid, with no repair even when defaults are asked for', (_label, value, issue) => {
    for (const onInvalid of ['quarantine', 'defaults'] as const) {
      expect(normalizeLlmPreferences(value, { onInvalid })).toEqual({
        status: 'invalid',
        issues: [issue],
        unknownFields: [],
        repair: null,
      });
    }
  });

  test("onInvalid 'defaults' drops only the invalid fields and keeps (and maps) the valid ones", () => {
    const input = { temperature: 7, maxTokens: 100, topP: 0, team: 'x', max_tokens: 200 };
    const result = expectStatus(normalizeLlmPreferences(input, { onInvalid: 'defaults' }), 'invalid');
    expect(result.issues).toEqual([
      'temperature: must be at most 2',
      'top_p (given as topP): must be greater than 0 (use temperature 0 for greedy decoding)',
    ]);
    expect(result.repair).toEqual({
      ops: { temperature: null, maxTokens: null, topP: null },
      preferences: { max_tokens: 200, team: 'x' },
      conflicts: [
        {
          field: 'max_tokens',
          kept: { key: 'max_tokens', value: 200 },
          dropped: [{ key: 'maxTokens', value: 100 }],
          agreed: false,
        },
      ],
      dropped: [
        { field: 'temperature', keys: ['temperature'], issues: ['temperature: must be at most 2'] },
        {
          field: 'top_p',
          keys: ['topP'],
          issues: ['top_p (given as topP): must be greater than 0 (use temperature 0 for greedy decoding)'],
        },
      ],
    });
  });

  test("onInvalid 'defaults' drops every spelling of an unresolvable field, and a cross-field rule's target", () => {
    const result = expectStatus(
      normalizeLlmPreferences(
        { maxTokens: 1, MaxTokens: 2, thinkingTokens: 2048, temperature: 1 },
        { onInvalid: 'defaults' },
      ),
      'invalid',
    );
    expect(result.repair?.preferences).toEqual({ temperature: 1 });
    expect(result.repair?.dropped.map((d) => [d.field, d.keys])).toEqual([
      ['max_tokens', ['maxTokens', 'MaxTokens']],
      ['thinking_tokens', ['thinkingTokens']],
    ]);
  });
});

describe('normalizeLlmPreferences: repairs that expose another issue', () => {
  test('dropping an invalid thinking_mode also drops the thinking_tokens that needed it', () => {
    const result = expectStatus(
      normalizeLlmPreferences(
        { thinkingMode: 'yes', thinkingTokens: 2048, temperature: 1 },
        { onInvalid: 'defaults' },
      ),
      'invalid',
    );
    expect(result.issues).toEqual([
      'thinking_mode (given as thinkingMode): must be true or false, got "yes"',
    ]);
    expect(result.repair?.preferences).toEqual({ temperature: 1 });
    expect(result.repair?.dropped).toEqual([
      {
        field: 'thinking_mode',
        keys: ['thinkingMode'],
        issues: ['thinking_mode (given as thinkingMode): must be true or false, got "yes"'],
      },
      {
        field: 'thinking_tokens',
        keys: ['thinkingTokens'],
        issues: [
          'thinking_tokens (given as thinkingTokens): requires thinking_mode: true (set it, or remove thinking_tokens)',
        ],
      },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties

const camelSpellings = KNOWN_LLM_PARAM_FIELDS.map((field) => ({
  field,
  spellings: [
    field,
    field.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()),
    field.replaceAll('_', '-'),
  ],
}));

const jsonValue = fc.oneof(
  fc.integer({ min: -5, max: 5000 }),
  fc.double({ min: -3, max: 3, noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constantFrom('auto', 'none', 'low', 'high', 'END', ''),
  fc.constant(null),
  fc.array(fc.constantFrom('a', 'STOP', ''), { maxLength: 3 }),
);

/** A value each field accepts, so that most generated templates are valid and many need a rewrite. */
const VALID: Record<string, readonly unknown[]> = {
  temperature: [0, 0.7, 2],
  max_tokens: [1, 256],
  top_p: [0.1, 1],
  top_k: [1, 40],
  frequency_penalty: [-2, 0.5],
  presence_penalty: [0, 2],
  stop_sequences: [[], ['END']],
  system_prompt: ['Be brief.'],
  stream: [true, false],
  tool_choice: ['auto', { type: 'function', function: { name: 'lookup' } }],
  parallel_tool_calls: [false],
  reasoning_effort: ['low', 'high'],
  thinking_mode: [true, false],
  thinking_tokens: [2048],
  chain_of_thought: [true],
};

/** Objects mixing known fields in any spelling (sometimes several), mostly valid, with unknown keys. */
const preferences = fc
  .tuple(
    fc.array(
      fc
        .tuple(fc.constantFrom(...camelSpellings), fc.nat({ max: 2 }), fc.nat({ max: 9 }), jsonValue)
        .map(([f, spelling, pick, random]) => {
          const valid = VALID[f.field] ?? [];
          // Seven times in ten a valid value, else anything (often invalid).
          const value = pick < 7 && valid.length > 0 ? valid[pick % valid.length] : random;
          return [f.spellings[spelling] ?? f.field, value] as const;
        }),
      { maxLength: 6 },
    ),
    fc.array(fc.tuple(fc.constantFrom('team', 'customerTier', 'x_y', 'Owner', 'promptVersion'), jsonValue), {
      maxLength: 3,
    }),
  )
  .map(([known, unknown]) => Object.fromEntries([...known, ...unknown]) as Record<string, unknown>);

describe('normalizeLlmPreferences: properties', () => {
  test('the rewrite is what the ops produce, is valid, and is a fixed point', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(preferences, (input) => {
        const result = normalizeLlmPreferences(input, { onInvalid: 'defaults' });
        seen.add(result.status === 'invalid' && result.repair ? 'repaired' : result.status);
        const rewrite =
          result.status === 'migrate' ? result : result.status === 'invalid' ? result.repair : null;
        if (!rewrite) return;
        expect(applyOps(input, rewrite.ops)).toEqual(rewrite.preferences);
        const again = normalizeLlmPreferences(rewrite.preferences);
        expect(again.status).toBe('normal');
        const known = Object.fromEntries(
          Object.entries(rewrite.preferences).filter(([key]) =>
            (KNOWN_LLM_PARAM_FIELDS as readonly string[]).includes(key),
          ),
        );
        expect(LlmParams.safeParse(known).success).toBe(true);
      }),
      { numRuns: 500 },
    );
    // The generator reaches every outcome, so the property is not passing vacuously.
    expect([...seen].sort()).toEqual(['migrate', 'normal', 'repaired']);
  });

  test('a migrated value loses nothing: every unknown key kept verbatim, every known field under its snake name', () => {
    fc.assert(
      fc.property(preferences, (input) => {
        const result = normalizeLlmPreferences(input);
        if (result.status !== 'migrate') return;
        for (const [key, value] of Object.entries(input)) {
          const snake = toSnakeCase(key);
          if (!(KNOWN_LLM_PARAM_FIELDS as readonly string[]).includes(snake)) {
            expect(result.preferences[key]).toEqual(value);
            expect(result.unknownFields).toContain(key);
          } else {
            expect(Object.hasOwn(result.preferences, snake)).toBe(true);
            // The snake_case spelling always wins when present.
            if (Object.hasOwn(input, snake)) expect(result.preferences[snake]).toEqual(input[snake]);
          }
        }
      }),
    );
  });

  test('the default never changes an invalid value: no repair is offered', () => {
    fc.assert(
      fc.property(preferences, (input) => {
        const result = normalizeLlmPreferences(input);
        if (result.status === 'invalid') {
          expect(result.repair).toBeNull();
          expect(result.issues.length).toBeGreaterThan(0);
        }
      }),
    );
  });
});
