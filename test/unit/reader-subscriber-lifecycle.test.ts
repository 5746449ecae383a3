import type { Invalidation } from '../../src/reader/invalidation-transport';
import type { ReaderLogger } from '../../src/reader/reader-logger';
import { createSubscriberLifecycle, type Heartbeat } from '../../src/reader/subscriber-lifecycle';

interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: object;
  message: string;
}

function recordingLogger(lines: LogLine[]): ReaderLogger {
  return {
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
    error: (fields, message) => lines.push({ level: 'error', fields, message }),
  };
}

function setUp() {
  const lines: LogLine[] = [];
  const events: string[] = [];
  const invalidations: Invalidation[] = [];
  const lifecycle = createSubscriberLifecycle(
    { name: 'fake', product: 'Fake' },
    {
      heartbeatIntervalMs: 1_000,
      // random() = 0: each delay is half its step, 50 ms then 100 ms then 200 ms.
      backoff: { initialMs: 100, maxMs: 1_000, random: () => 0 },
      logger: recordingLogger(lines),
    },
  );
  const handlers = {
    onInvalidate: (invalidation: Invalidation) => invalidations.push(invalidation),
    onSubscribed: () => events.push('subscribed'),
    onDisconnected: (error: Error) => events.push(`disconnected: ${error.message}`),
  };
  return { lifecycle, handlers, lines, events, invalidations };
}

function heartbeatOf(probe: () => Promise<unknown>, current: () => boolean, failures: unknown[]): Heartbeat {
  return { probe, isCurrent: current, fail: (error) => failures.push(error) };
}

const idle: Heartbeat = {
  probe: () => new Promise(() => undefined),
  isCurrent: () => true,
  fail: () => undefined,
};

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('createSubscriberLifecycle', () => {
  it('connects once on start, refuses a second start, and resolves start on the first subscription', async () => {
    const { lifecycle, handlers, events } = setUp();
    const connect = jest.fn();
    let resolved = false;
    const started = lifecycle.start(handlers, connect).then(() => {
      resolved = true;
    });
    expect(connect).toHaveBeenCalledTimes(1);
    expect(() => lifecycle.start(handlers, connect)).toThrow(
      'the Fake invalidation transport was already started',
    );
    await Promise.resolve();
    expect(resolved).toBe(false);

    lifecycle.subscribed(idle, { server: 'db:5432' }, 'subscribed');
    await started;
    expect(resolved).toBe(true);
    expect(events).toEqual(['subscribed']);
    await lifecycle.close(async () => undefined);
  });

  it('releases start when closed before any subscription, and runs disconnect once', async () => {
    const { lifecycle, handlers } = setUp();
    const started = lifecycle.start(handlers, () => undefined);
    const disconnect = jest.fn(async () => undefined);
    await lifecycle.close(disconnect);
    await lifecycle.close(disconnect);
    await expect(started).resolves.toBeUndefined();
    expect(disconnect).toHaveBeenCalledTimes(1);
    expect(lifecycle.closed).toBe(true);
  });

  it('tells the handlers of a loss and reconnects after a backoff that grows and starts over once subscribed', async () => {
    const { lifecycle, handlers, events, lines } = setUp();
    void lifecycle.start(handlers, () => undefined);
    const reconnect = jest.fn();

    lifecycle.lost(new Error('gone'), { server: 'db:5432' }, 'lost; reconnecting', reconnect);
    expect(events).toEqual(['disconnected: gone']);
    expect(lines.at(-1)).toEqual({
      level: 'warn',
      fields: { transport: 'fake', server: 'db:5432', error: 'gone', retryInMs: 50 },
      message: 'lost; reconnecting',
    });
    jest.advanceTimersByTime(49);
    expect(reconnect).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(reconnect).toHaveBeenCalledTimes(1);

    lifecycle.lost(new Error('again'), {}, 'lost', reconnect);
    expect(lines.at(-1)?.fields).toMatchObject({ retryInMs: 100 });

    jest.advanceTimersByTime(100);
    lifecycle.subscribed(idle, {}, 'subscribed');
    lifecycle.lost(new Error('once more'), {}, 'lost', reconnect);
    expect(lines.at(-1)?.fields).toMatchObject({ retryInMs: 50 });
    await lifecycle.close(async () => undefined);
  });

  it('neither reports nor reconnects after close, and close cancels a pending reconnect', async () => {
    const { lifecycle, handlers, events } = setUp();
    void lifecycle.start(handlers, () => undefined);
    const reconnect = jest.fn();
    lifecycle.lost(new Error('gone'), {}, 'lost', reconnect);
    await lifecycle.close(async () => undefined);
    lifecycle.lost(new Error('after close'), {}, 'lost', reconnect);
    jest.advanceTimersByTime(10_000);
    expect(reconnect).not.toHaveBeenCalled();
    expect(events).toEqual(['disconnected: gone']);
  });

  it('probes the live subscription every interval and reports a failed probe only while it is current', async () => {
    const { lifecycle, handlers } = setUp();
    void lifecycle.start(handlers, () => undefined);
    let answer: Promise<unknown> = Promise.resolve('ok');
    const probe = jest.fn(() => answer);
    let current = true;
    const failures: unknown[] = [];
    lifecycle.subscribed(
      heartbeatOf(probe, () => current, failures),
      {},
      'subscribed',
    );

    await jest.advanceTimersByTimeAsync(999);
    expect(probe).toHaveBeenCalledTimes(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(probe).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(2);

    answer = Promise.reject(new Error('no answer'));
    answer.catch(() => undefined);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(failures).toEqual([new Error('no answer')]);
    // A failed probe does not schedule another.
    await jest.advanceTimersByTimeAsync(5_000);
    expect(probe).toHaveBeenCalledTimes(3);

    const stale: unknown[] = [];
    lifecycle.subscribed(
      heartbeatOf(probe, () => current, stale),
      {},
      'subscribed',
    );
    current = false;
    await jest.advanceTimersByTimeAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(4);
    expect(stale).toEqual([]);
    await lifecycle.close(async () => undefined);
  });

  it('stops probing when told the heartbeat stopped', async () => {
    const { lifecycle, handlers } = setUp();
    void lifecycle.start(handlers, () => undefined);
    const probe = jest.fn(() => Promise.resolve());
    lifecycle.subscribed(
      heartbeatOf(probe, () => true, []),
      {},
      'subscribed',
    );
    lifecycle.stopHeartbeat();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(probe).not.toHaveBeenCalled();
    await lifecycle.close(async () => undefined);
  });

  it('delivers a readable message as it is and an unreadable one as "everything", with a warning', async () => {
    const { lifecycle, handlers, invalidations, lines } = setUp();
    void lifecycle.start(handlers, () => undefined);
    lifecycle.deliver('{"key": "max_tokens", "user_id": "u1"}');
    expect(lines).toEqual([]);
    lifecycle.deliver('not json');
    expect(invalidations).toEqual([{ key: 'max_tokens', userId: 'u1' }, { all: true }]);
    expect(lines).toEqual([
      {
        level: 'warn',
        fields: { transport: 'fake' },
        message: 'unreadable invalidation message; dropping the whole cache',
      },
    ]);
    await lifecycle.close(async () => undefined);
  });

  it('logs, and does not throw, when a connection does not end in time', async () => {
    const { lifecycle, lines } = setUp();
    const waiting = lifecycle.awaitEnd(
      new Promise(() => undefined),
      200,
      'closing it',
      'did not close cleanly',
    );
    await jest.advanceTimersByTimeAsync(200);
    await expect(waiting).resolves.toBeUndefined();
    expect(lines).toEqual([
      {
        level: 'warn',
        fields: { transport: 'fake', error: 'closing it timed out after 200 ms' },
        message: 'did not close cleanly',
      },
    ]);
  });
});
