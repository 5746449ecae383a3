import {
  counterIncreases,
  MAX_SERIES,
  seriesKey,
  TooManySeriesError,
} from '../../src/gates/counter-increase';
import { compileMatchers, parseSeriesSelector, SelectorError } from '../../src/gates/series-selector';

describe('parseSeriesSelector', () => {
  it('reads a metric name with matchers of every operator', () => {
    expect(
      parseSeriesSelector(
        `http_request_duration_seconds_count{config_path="unified", status_code=~"5..",method!='HEAD',route!~"/health|/metrics",}`,
      ),
    ).toEqual({
      metric: 'http_request_duration_seconds_count',
      matchers: [
        { label: 'config_path', op: '=', value: 'unified' },
        { label: 'status_code', op: '=~', value: '5..' },
        { label: 'method', op: '!=', value: 'HEAD' },
        { label: 'route', op: '!~', value: '/health|/metrics' },
      ],
    });
  });

  it('reads bare matchers, a bare metric name and the empty selector', () => {
    expect(parseSeriesSelector('status_code=~"5.."')).toEqual({
      matchers: [{ label: 'status_code', op: '=~', value: '5..' }],
    });
    expect(parseSeriesSelector('  up  ')).toEqual({ metric: 'up', matchers: [] });
    expect(parseSeriesSelector('')).toEqual({ matchers: [] });
    expect(parseSeriesSelector('x{}')).toEqual({ metric: 'x', matchers: [] });
  });

  it('unescapes quoted values', () => {
    expect(parseSeriesSelector('a="say \\"hi\\"\\n\\\\"').matchers[0]?.value).toBe('say "hi"\n\\');
  });

  it.each([
    ['x{a="1"', /missing "}"/],
    ['x{a=1}', /expected a quoted value/],
    ['x{a:"1"}', /expected =, !=, =~ or !~/],
    ['a="1" b="2"', /expected "," between matchers/],
    ['x{a="1"} y', /unexpected text after "}"/],
    ['a=~"5.(("', /invalid regular expression/],
    ['a="unterminated', /unterminated quoted value/],
    ['a="bad \\q"', /unknown escape/],
    ['x y', /expected "\{" after x/],
  ])('refuses %s', (text, message) => {
    expect(() => parseSeriesSelector(text)).toThrow(SelectorError);
    expect(() => parseSeriesSelector(text)).toThrow(message);
  });

  it('refuses selectors too long or with too many matchers', () => {
    expect(() => parseSeriesSelector(`a="${'x'.repeat(1_000)}"`)).toThrow(/at most 1000 characters/);
    expect(() => parseSeriesSelector(Array.from({ length: 21 }, (_, i) => `l${i}="v"`).join(','))).toThrow(
      /at most 20 matchers/,
    );
  });
});

describe('compileMatchers', () => {
  const match = (selector: string, labels: Record<string, string>) =>
    compileMatchers(parseSeriesSelector(selector).matchers)(labels);

  it('anchors regular expressions at both ends, as PromQL does', () => {
    expect(match('status_code=~"5.."', { status_code: '503' })).toBe(true);
    expect(match('status_code=~"5.."', { status_code: '5030' })).toBe(false);
    expect(match('status_code=~"5.."', { status_code: '1503' })).toBe(false);
    expect(match('status_code!~"5.."', { status_code: '200' })).toBe(true);
  });

  it('treats a missing label as the empty string', () => {
    expect(match('a=""', {})).toBe(true);
    expect(match('a!=""', {})).toBe(false);
    expect(match('a=~".*"', {})).toBe(true);
    expect(match('a="x"', {})).toBe(false);
  });

  it('needs every matcher; no matcher matches everything', () => {
    expect(match('a="1",b="2"', { a: '1', b: '2' })).toBe(true);
    expect(match('a="1",b="2"', { a: '1', b: '3' })).toBe(false);
    expect(match('', { anything: 'x' })).toBe(true);
  });
});

describe('counterIncreases', () => {
  it('takes differences, counts a new series from zero and a lower value as a restart', () => {
    const result = counterIncreases(
      { a: 10, b: 5 },
      new Map([
        ['a', 15],
        ['b', 2],
        ['c', 7],
      ]),
    );
    expect(Object.fromEntries(result.increases)).toEqual({ a: 5, b: 2, c: 7 });
    expect(result.resets).toBe(1);
    expect(result.appeared).toBe(1);
    expect(result.values).toEqual({ a: 15, b: 2, c: 7 });
  });

  it('keeps the last value of a series missing from a scrape, so its return is not counted twice', () => {
    const gone = counterIncreases({ a: 10, b: 5 }, new Map([['a', 11]]));
    expect(gone.values).toEqual({ a: 11, b: 5 });
    const back = counterIncreases(
      gone.values,
      new Map([
        ['a', 11],
        ['b', 8],
      ]),
    );
    expect(back.increases.get('b')).toBe(3);
  });

  it('skips NaN, infinite and negative values', () => {
    const result = counterIncreases(
      { a: 1 },
      new Map([
        ['a', Number.NaN],
        ['b', Infinity],
        ['c', -1],
        ['d', 2],
      ]),
    );
    expect(Object.fromEntries(result.increases)).toEqual({ d: 2 });
    expect(result.values).toEqual({ a: 1, d: 2 });
  });

  it('handles huge counters exactly where doubles can', () => {
    const result = counterIncreases({ a: 2 ** 52 }, new Map([['a', 2 ** 52 + 4]]));
    expect(result.increases.get('a')).toBe(4);
  });

  it('refuses more series than it follows', () => {
    const many = new Map(Array.from({ length: MAX_SERIES + 1 }, (_, i) => [`s${i}`, 1] as const));
    expect(() => counterIncreases({}, many)).toThrow(TooManySeriesError);
  });
});

describe('seriesKey', () => {
  it('is the same for the same labels in any order and differs when anything differs', () => {
    const a = seriesKey('m', { x: '1', y: '2' });
    expect(seriesKey('m', { y: '2', x: '1' })).toBe(a);
    expect(seriesKey('n', { x: '1', y: '2' })).not.toBe(a);
    expect(seriesKey('m', { x: '1', y: '3' })).not.toBe(a);
    // Label boundaries matter: {x="1,y=2"} is not {x="1", y="2"}.
    expect(seriesKey('m', { x: '1,y=2' })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-z]{1,11}$/);
  });

  it('does not collide across many realistic series', () => {
    const keys = new Set<string>();
    for (let status = 100; status < 600; status++) {
      for (const path of ['unified', 'legacy', 'none']) {
        for (const route of ['/a', '/b', '/c', '/d'])
          keys.add(seriesKey('h', { status_code: String(status), config_path: path, route }));
      }
    }
    expect(keys.size).toBe(500 * 3 * 4);
  });
});
