import {
  GateDefinitionError,
  gateDefinitionSchema,
  parseGateDefinitions,
  readOnlyQueryProblem,
  toGateDefinitionInput,
  type GateDefinition,
} from '../../src/gates/gate-definition';

/** The problems of definitions that must be refused; fails the test when they parse. */
function problemsOf(gates: unknown): string[] {
  let thrown: unknown;
  try {
    parseGateDefinitions(gates);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(GateDefinitionError);
  const error = thrown as GateDefinitionError;
  for (const problem of error.problems) expect(error.message).toContain(problem);
  return error.problems;
}

const compare = { provider: 'compare', endpoint: 'http://127.0.0.1:3000/metrics' };
const metrics = {
  provider: 'metrics',
  endpoint: 'http://127.0.0.1:3000/metrics',
  numerator: 'http_request_duration_seconds_count{config_path="unified",status_code=~"5.."}',
  denominator: 'http_request_duration_seconds_count{config_path="unified"}',
  threshold: 0.05,
};
const prometheus = {
  provider: 'prometheus',
  url: 'http://127.0.0.1:9090',
  query: 'sum(up)',
  threshold: 1,
  passIf: '>=',
};
const http = { provider: 'http', url: 'http://127.0.0.1:3000/health' };
const sql = {
  provider: 'sql',
  query: "select count(*) from prompt_templates where status = 'invalid'",
  threshold: 0,
};

describe('gate definitions: defaults', () => {
  it('fills in the compare gate: config_path split, 5xx failures, tolerance 1.2, alpha 0.01, rollback', () => {
    expect(parseGateDefinitions({ errors: compare }).errors).toEqual({
      ...compare,
      metric: 'http_request_duration_seconds_count',
      select: '',
      splitLabel: 'config_path',
      canary: 'unified',
      baseline: 'legacy',
      failure: 'status_code=~"5.."',
      maxRatio: 1.2,
      alpha: 0.01,
      minSample: 100,
      interval: 10_000,
      timeout: 5_000,
      failureLimit: 1,
      consecutiveSuccesses: 1,
      inconclusiveLimit: 120_000,
      onFailure: 'rollback',
    });
  });

  it('gives threshold gates failureLimit 3 and passIf <=', () => {
    const gates = parseGateDefinitions({ metrics, prometheus, http, sql });
    for (const gate of Object.values(gates)) expect(gate.failureLimit).toBe(3);
    expect(gates.metrics).toMatchObject({ kind: 'ratio', passIf: '<=' });
    expect(gates.prometheus).toMatchObject({ passIf: '>=' });
    expect(gates.http).toMatchObject({ method: 'GET', expectStatus: [200], json: [] });
    expect(gates.sql).toMatchObject({ databaseUrlEnv: 'DATABASE_URL' });
  });

  it('accepts an interval of 1 s and defaults the timeout to the interval when shorter than 5 s', () => {
    const gate = parseGateDefinitions({ g: { ...compare, interval: '1s' } }).g as GateDefinition;
    expect(gate.interval).toBe(1_000);
    expect(gate.timeout).toBe(1_000);
  });

  it('takes hold as the failure policy and a single expected status', () => {
    const gates = parseGateDefinitions({ h: { ...http, onFailure: 'hold', expectStatus: 204 } });
    expect(gates.h).toMatchObject({ onFailure: 'hold', expectStatus: [204] });
  });

  it('writes a validated gate back as input that validates to the same gate', () => {
    for (const input of [compare, metrics, prometheus, http, sql]) {
      const gate = gateDefinitionSchema.parse({ ...input, interval: '1.5s', inconclusiveLimit: '90s' });
      const again = gateDefinitionSchema.parse(toGateDefinitionInput(gate));
      expect(again).toEqual(gate);
      expect(toGateDefinitionInput(gate)).toMatchObject({ interval: '1.5s', inconclusiveLimit: '1.5m' });
    }
  });
});

describe('gate definitions: refusals', () => {
  it('refuses an unknown or missing provider, naming the known ones', () => {
    expect(problemsOf({ g: { provider: 'datadog' } })).toEqual([
      'g.provider: unknown provider "datadog"; expected one of compare, metrics, prometheus, http, sql',
    ]);
    expect(problemsOf({ g: {} })).toEqual([
      'g.provider: provider is required (one of compare, metrics, prometheus, http, sql)',
    ]);
    expect(problemsOf({ g: 'compare' })[0]).toMatch(/^g: /);
  });

  it('refuses a missing endpoint or url', () => {
    expect(problemsOf({ g: { provider: 'compare' } })).toEqual([
      'g.endpoint: endpoint is required (e.g. http://127.0.0.1:3000/metrics)',
    ]);
    expect(problemsOf({ g: { provider: 'prometheus', query: 'up', threshold: 1 } })).toEqual([
      'g.url: url is required (e.g. http://127.0.0.1:9090)',
    ]);
  });

  it('refuses a threshold of the wrong type', () => {
    expect(problemsOf({ g: { ...metrics, threshold: '0.05' } })).toEqual([
      'g.threshold: threshold must be a number (e.g. 0.05), got "0.05"',
    ]);
    expect(problemsOf({ g: { ...sql, threshold: Infinity } })).toEqual([
      'g.threshold: threshold must be a number (e.g. 0.05), got Infinity',
    ]);
    expect(problemsOf({ g: { ...sql, threshold: undefined } })).toEqual([
      'g.threshold: threshold is required (e.g. 0.05)',
    ]);
  });

  it('refuses bad durations: no unit, below 1 s, above the bounds, timeout longer than interval', () => {
    expect(problemsOf({ g: { ...compare, interval: 5 } })[0]).toMatch(
      /interval must be a duration with a unit .* bare number/,
    );
    expect(problemsOf({ g: { ...compare, interval: '500ms' } })).toEqual([
      'g.interval: interval must be between 1s and 1h, got 500ms',
    ]);
    expect(problemsOf({ g: { ...compare, interval: 'often' } })[0]).toMatch(
      /interval must be a duration such as 1s/,
    );
    expect(problemsOf({ g: { ...compare, interval: '10s', timeout: '20s' } })).toEqual([
      'g.timeout: timeout (20s) must not exceed interval (10s)',
    ]);
  });

  it('refuses bad limits, policies and tolerances', () => {
    const problems = problemsOf({
      g: {
        ...compare,
        failureLimit: 0,
        consecutiveSuccesses: 1.5,
        onFailure: 'panic',
        maxRatio: 0.5,
        alpha: 0,
        minSample: -1,
      },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'g.failureLimit: failureLimit must be at least 1',
        'g.consecutiveSuccesses: consecutiveSuccesses must be a whole number',
        'g.onFailure: onFailure must be rollback or hold',
        'g.maxRatio: maxRatio must be at least 1 (1: no worse than the baseline)',
        'g.alpha: alpha must be above 0',
        'g.minSample: minSample must be at least 0',
      ]),
    );
  });

  it('refuses credentials in a URL without repeating them', () => {
    const problems = problemsOf({
      g: { ...compare, endpoint: 'http://admin:s3cret@127.0.0.1:3000/metrics' },
    });
    expect(problems).toEqual([
      'g.endpoint: endpoint must not contain credentials; name an environment variable in bearerTokenEnv instead',
    ]);
    expect(problems.join()).not.toContain('s3cret');
    expect(problemsOf({ g: { ...http, url: 'ftp://x/y' } })).toEqual([
      'g.url: url must use http or https, got ftp:',
    ]);
    expect(problemsOf({ g: { ...http, url: '/health' } })[0]).toMatch(/must be an absolute http\(s\) URL/);
  });

  it('refuses bad selectors and option combinations', () => {
    expect(problemsOf({ g: { ...compare, failure: 'status_code=~"5.(("' } })[0]).toMatch(
      /^g.failure: failure is not a valid selector: invalid regular expression/,
    );
    expect(problemsOf({ g: { ...compare, canary: 'legacy' } })).toEqual([
      'g.baseline: canary and baseline must differ',
    ]);
    expect(problemsOf({ g: { ...metrics, numerator: 'status_code="500"' } })[0]).toMatch(
      /numerator must name a metric/,
    );
    expect(problemsOf({ g: { ...metrics, denominator: undefined } })[0]).toMatch(
      /denominator is required for kind ratio/,
    );
    expect(problemsOf({ g: { ...metrics, kind: 'rate' } })[0]).toMatch(/a rate has no denominator/);
    expect(problemsOf({ g: { ...prometheus, minSample: 10 } })[0]).toMatch(
      /sampleQuery and minSample go together/,
    );
    expect(
      problemsOf({ g: { ...http, method: 'HEAD', json: [{ path: 'status', value: 'ok' }] } })[0],
    ).toMatch(/HEAD response has no body/);
    expect(problemsOf({ g: { ...http, json: [{ path: 'n', op: '<', value: 'a' }] } })).toEqual([
      'g.json[0].value: op < compares numbers; value must be a number',
    ]);
    expect(problemsOf({ g: { ...http, json: [{ path: 'a..b', op: 'exists' }] } })[0]).toMatch(
      /path must be keys separated by dots/,
    );
  });

  it('names unknown options and refuses bad gate names and too many gates', () => {
    expect(problemsOf({ g: { ...compare, treshold: 1 } })).toEqual(['g: unknown option "treshold"']);
    expect(problemsOf({ 'Bad Name': compare })[0]).toMatch(/gate name "Bad Name" must be 1-40 characters/);
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`g${i}`, compare]));
    expect(problemsOf(many)).toEqual(['a plan has at most 20 gates']);
  });

  it('refuses a writing SQL query with the plan', () => {
    expect(problemsOf({ g: { ...sql, query: "delete from runtime_config where key = 'x'" } })).toEqual([
      'g.query: query must be a read-only SELECT (or WITH, VALUES, TABLE)',
    ]);
    expect(problemsOf({ g: { ...sql, query: 'select 1; drop table runtime_config' } })).toEqual([
      'g.query: query must be a single statement',
    ]);
  });
});

describe('readOnlyQueryProblem', () => {
  it.each([
    'select count(*) from prompt_templates',
    "select count(*) from audit where note = 'delete me; update later'",
    'with t as (select 1 as v) select v from t;',
    'values (1)',
    'table model_catalog',
    '-- insert\nselect 1',
    'select "update" from t',
    'select updated_at from t',
  ])('accepts %s', (query) => {
    expect(readOnlyQueryProblem(query)).toBeUndefined();
  });

  it.each([
    ['insert into t values (1)', /read-only SELECT/],
    ['with d as (delete from t returning *) select count(*) from d', /"delete" writes/],
    ['select * into t2 from t', /"into" writes/],
    ["select nextval('s')", /"nextval" writes/],
    ['select * from t for update', /must not lock rows/],
    ['select 1; select 2', /single statement/],
    ['set statement_timeout = 0', /read-only SELECT/],
    ['commit', /read-only SELECT/],
  ])('refuses %s', (query, message) => {
    expect(readOnlyQueryProblem(query)).toMatch(message);
  });
});
