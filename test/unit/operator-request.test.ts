import fc from 'fast-check';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  boundedText,
  MAX_ACTOR_CHARS,
  MAX_REASON_CHARS,
  readOperatorRequest,
  UNKNOWN_ACTOR,
} from '../../workflows/operator-request';
import { payloadConverter } from '../../src/temporal/tolerant-payload-converter';

const bytes = (text: string) => new TextEncoder().encode(text);
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

test('a well-formed request is trimmed and cleaned of control characters', () => {
  expect(readOperatorRequest({ actor: '  ana@ops \n', reason: 'error\u0000 rate\u202e up' })).toEqual({
    ok: true,
    request: { actor: 'ana@ops', reason: 'error  rate  up' },
  });
  expect(readOperatorRequest(undefined)).toEqual({
    ok: true,
    request: { actor: UNKNOWN_ACTOR, reason: null },
  });
  expect(readOperatorRequest({ actor: '   ', reason: '' })).toEqual({
    ok: true,
    request: { actor: UNKNOWN_ACTOR, reason: null },
  });
});

test.each([
  [{ reason: 'x'.repeat(MAX_REASON_CHARS + 1) }, 'reason is longer than 1000 characters'],
  [{ actor: 'y'.repeat(MAX_ACTOR_CHARS + 1) }, 'actor is longer than 200 characters'],
  [{ actor: 42 }, 'actor must be a string'],
  [{ reason: { nested: true } }, 'reason must be a string'],
  [['pause'], 'must be an object'],
  ['pause now', 'must be an object'],
])('%j is refused: %s', (payload, problem) => {
  const reading = readOperatorRequest(payload);
  expect(reading.ok).toBe(false);
  if (!reading.ok) expect(reading.problem).toContain(problem);
});

test('an unknown key is refused without repeating it', () => {
  const key = `k${'z'.repeat(5_000)}`;
  const reading = readOperatorRequest({ actor: 'a', [key]: 1 });
  expect(reading).toMatchObject({ ok: false, problem: 'only "actor" and "reason" are accepted' });
  expect(JSON.stringify(reading)).not.toContain('zzzz');
});

test('a payload the default converter cannot decode becomes a marker the boundary refuses', () => {
  const unknown = { metadata: { encoding: bytes('application/x-unknown') }, data: bytes('{"actor":"x"}') };
  expect(() => defaultPayloadConverter.fromPayload(unknown)).toThrow(/encoding/i);
  const reading = readOperatorRequest(payloadConverter.fromPayload(unknown));
  expect(reading).toEqual({
    ok: false,
    problem: 'the payload could not be decoded (encoding application/x-unknown)',
    payload: 'undecodable, 13 bytes',
  });
  const malformed = { metadata: { encoding: bytes('json/plain') }, data: bytes('{"actor": ') };
  expect(readOperatorRequest(payloadConverter.fromPayload(malformed))).toMatchObject({ ok: false });
  const hostile = { metadata: { encoding: bytes(`\u0007${'e'.repeat(10_000)}`) }, data: bytes('') };
  const refused = readOperatorRequest(payloadConverter.fromPayload(hostile));
  expect(refused.ok).toBe(false);
  if (!refused.ok) expect(refused.problem.length).toBeLessThan(120);
});

test('the converter still encodes and decodes ordinary values unchanged', () => {
  const value = { actor: 'ana', reason: 'ok', nested: [1, null, 'x'] };
  expect(payloadConverter.fromPayload(payloadConverter.toPayload(value))).toEqual(value);
  expect(payloadConverter.fromPayload(payloadConverter.toPayload(undefined))).toBeUndefined();
});

const anyPayload = fc.oneof(
  fc.jsonValue(),
  fc.record({ actor: fc.jsonValue(), reason: fc.jsonValue() }, { requiredKeys: [] }),
  fc.record({
    actor: fc.string({ maxLength: 400 }),
    reason: fc.string({ unit: 'binary', maxLength: 3_000 }),
  }),
  fc.dictionary(fc.string({ maxLength: 300 }), fc.jsonValue(), { maxKeys: 4 }),
);

test('whatever arrives, the outcome is a bounded, clean request or a short refusal that copies nothing', () => {
  fc.assert(
    fc.property(anyPayload, (payload) => {
      const reading = readOperatorRequest(payload);
      if (reading.ok) {
        expect(reading.request.actor.length).toBeLessThanOrEqual(MAX_ACTOR_CHARS);
        expect((reading.request.reason ?? '').length).toBeLessThanOrEqual(MAX_REASON_CHARS);
        expect(reading.request.actor + (reading.request.reason ?? '')).not.toMatch(CONTROL);
      } else {
        expect(reading.problem.length + reading.payload.length).toBeLessThanOrEqual(400);
      }
    }),
    { numRuns: 2_000 },
  );
});

test('a 2 MB reason or a JSON nested 100,000 deep is refused in bounded words', () => {
  const payload = { actor: 'a', reason: 'r'.repeat(2_000_000) };
  expect(readOperatorRequest(payload)).toEqual({
    ok: false,
    problem: 'reason is longer than 1000 characters',
    payload: `object, ${JSON.stringify(payload).length} characters of JSON`,
  });
  let deep: unknown = 'x';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const reading = readOperatorRequest(deep);
  expect(reading.ok).toBe(false);
  if (!reading.ok) expect(reading.payload.length).toBeLessThan(60);
});

test('a JSON object cannot pass for the undecodable marker, and binary payloads are refused by size', () => {
  expect(readOperatorRequest({ '@@undecodablePayload': null })).toMatchObject({
    ok: false,
    problem: 'only "actor" and "reason" are accepted',
  });
  const binary = payloadConverter.fromPayload({
    metadata: { encoding: bytes('binary/plain') },
    data: new Uint8Array(1_900_000),
  });
  expect(readOperatorRequest(binary)).toEqual({
    ok: false,
    problem: 'must be an object such as {"actor": "you@host", "reason": "why"}',
    payload: 'binary, 1900000 bytes',
  });
});

test('lone surrogates become U+FFFD and a cut never splits a surrogate pair', () => {
  expect(readOperatorRequest({ actor: 'x\ud800', reason: '\udc00y' })).toEqual({
    ok: true,
    request: { actor: 'x\ufffd', reason: '\ufffdy' },
  });
  const cut = boundedText(`${'a'.repeat(62)}😀tail`, 64);
  expect(cut).toBe(`${'a'.repeat(62)}…`);
  expect(() => encodeURIComponent(cut)).not.toThrow();
});

test('a rollback may name its scope; every other action refuses the key, and a bad scope is not repeated', () => {
  expect(readOperatorRequest({ actor: 'ana', scope: 'flag' }, 'rollback')).toEqual({
    ok: true,
    request: { actor: 'ana', reason: null, scope: 'flag' },
  });
  expect(readOperatorRequest({ scope: 'full' }, 'rollback')).toMatchObject({
    ok: true,
    request: { scope: 'full' },
  });
  // No scope: none in the request (the plan's applies).
  expect(readOperatorRequest({ actor: 'ana' }, 'rollback')).toEqual({
    ok: true,
    request: { actor: 'ana', reason: null },
  });
  const huge = `partial${'z'.repeat(10_000)}`;
  for (const scope of [huge, 'FLAG', 1, null, ['flag']]) {
    const reading = readOperatorRequest({ actor: 'ana', scope }, 'rollback');
    expect(reading).toMatchObject({ ok: false, problem: 'scope must be "full" or "flag"' });
    expect(JSON.stringify(reading)).not.toContain('zzzz');
  }
  expect(readOperatorRequest({ actor: 'ana', extra: 1 }, 'rollback')).toMatchObject({
    ok: false,
    problem: 'only "actor", "reason" and "scope" are accepted',
  });
  for (const action of ['pause', 'resume', 'approve', undefined] as const) {
    expect(readOperatorRequest({ actor: 'ana', scope: 'flag' }, action)).toMatchObject({
      ok: false,
      problem: 'only "actor" and "reason" are accepted ("scope" is for rollback only)',
    });
  }
});

test('whatever a rollback carries, the outcome is bounded and the scope one of the two', () => {
  fc.assert(
    fc.property(
      fc.oneof(anyPayload, fc.record({ actor: fc.string(), scope: fc.jsonValue() }, { requiredKeys: [] })),
      (payload) => {
        const reading = readOperatorRequest(payload, 'rollback');
        if (reading.ok) expect([undefined, 'flag', 'full']).toContain(reading.request.scope);
        else expect(reading.problem.length + reading.payload.length).toBeLessThanOrEqual(400);
      },
    ),
    { numRuns: 1_000 },
  );
});

test('invisible and line-breaking format characters cannot make an actor or reason read differently', () => {
  const reading = readOperatorRequest({
    actor: '\u200b\u200eana@ops\ufeff',
    reason: 'line one\u2028line two\u00ad',
  });
  expect(reading).toEqual({ ok: true, request: { actor: 'ana@ops', reason: 'line one line two' } });
  // An actor made only of invisible characters is no actor at all.
  expect(readOperatorRequest({ actor: '\u200b\u200c\u200d\u2060' })).toMatchObject({
    ok: true,
    request: { actor: UNKNOWN_ACTOR },
  });
});
