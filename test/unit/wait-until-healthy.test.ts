import { waitUntilHealthy } from '../../src/dev/wait-until-healthy';

test('resolves once the check passes', async () => {
  let calls = 0;
  await waitUntilHealthy(async () => ++calls >= 3, { component: 'Thing', timeoutMs: 5_000, intervalMs: 10 });
  expect(calls).toBe(3);
});

test('times out with the component, the time waited and the last error', async () => {
  await expect(
    waitUntilHealthy(
      async () => {
        throw new Error('connection refused');
      },
      { component: 'Unleash at http://127.0.0.1:1', timeoutMs: 100, intervalMs: 10 },
    ),
  ).rejects.toThrow(
    /^Unleash at http:\/\/127\.0\.0\.1:1 did not become healthy within 0 s \(last: connection refused\)$/,
  );
});

test('stops waiting at once when the process it waits for has died', async () => {
  const started = Date.now();
  await expect(
    waitUntilHealthy(async () => false, {
      component: 'Temporal at 127.0.0.1:1',
      timeoutMs: 60_000,
      intervalMs: 10,
      stillWorthWaiting: () => 'it exited; log:\nbind: address already in use',
    }),
  ).rejects.toThrow(
    'Temporal at 127.0.0.1:1 did not become healthy: it exited; log:\nbind: address already in use',
  );
  expect(Date.now() - started).toBeLessThan(5_000);
});
