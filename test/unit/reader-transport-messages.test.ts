import { decodeInvalidation, encodeInvalidation } from '../../src/reader/invalidation-transport';
import { reconnectDelayMs } from '../../src/reader/reconnect-backoff';

describe('invalidation messages', () => {
  it('round-trip a key for a user, a global key and everything', () => {
    for (const invalidation of [
      { key: 'max_tokens', userId: 'u1' },
      { key: 'top_p', userId: null },
      { all: true as const },
    ]) {
      expect(decodeInvalidation(encodeInvalidation(invalidation))).toEqual({
        invalidation,
        malformed: false,
      });
    }
  });

  it("reads the Postgres trigger's JSON spacing", () => {
    expect(decodeInvalidation('{"key" : "max_tokens", "user_id" : null}').invalidation).toEqual({
      key: 'max_tokens',
      userId: null,
    });
  });

  it.each(['', 'not json', '{}', '{"key": 1}', '{"key": ""}', '{"all": false}', '[]'])(
    'turns the unreadable message %j into "invalidate everything"',
    (payload) => {
      expect(decodeInvalidation(payload)).toEqual({ invalidation: { all: true }, malformed: true });
    },
  );
});

describe('reconnectDelayMs', () => {
  it('grows exponentially between half and all of the step, up to the ceiling', () => {
    const low = () => 0;
    const high = () => 0.999_999;
    expect(reconnectDelayMs(1, { initialMs: 100, random: low })).toBe(50);
    expect(reconnectDelayMs(1, { initialMs: 100, random: high })).toBe(100);
    expect(reconnectDelayMs(4, { initialMs: 100, random: low })).toBe(400);
    expect(reconnectDelayMs(4, { initialMs: 100, random: high })).toBe(800);
    expect(reconnectDelayMs(50, { initialMs: 100, maxMs: 5_000, random: high })).toBe(5_000);
    expect(reconnectDelayMs(50, { initialMs: 100, maxMs: 5_000, random: low })).toBe(2_500);
  });
});
