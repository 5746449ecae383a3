import { WorkerPresence } from '../../src/cli/worker-presence';

const none = { workflow: 0, activity: 0 };
const both = { workflow: 1, activity: 2 };

describe('WorkerPresence', () => {
  it('warns at the first observation without a worker, naming the task queue', () => {
    const presence = new WorkerPresence('rollouts');
    expect(presence.observe(none, 0)).toBe(
      'warning: no worker polls task queue rollouts for workflow or activity tasks, so the rollout cannot move ' +
        '(start one: npm run worker, with ROLLOUT_TASK_QUEUE=rollouts)',
    );
  });

  it('repeats the warning every repeatEveryMs while no worker polls, with how long it has lasted', () => {
    const presence = new WorkerPresence('rollouts', { repeatEveryMs: 30_000 });
    const notices = [0, 5_000, 29_999, 30_000, 45_000, 60_004].map((at) => presence.observe(none, at));
    expect(notices).toEqual([
      expect.stringMatching(/^warning: no worker polls task queue rollouts/),
      undefined,
      undefined,
      'warning: still no worker polls task queue rollouts for workflow or activity tasks (for 30s)',
      undefined,
      'warning: still no worker polls task queue rollouts for workflow or activity tasks (for 1m)',
    ]);
  });

  it('says so once when a worker appears, then nothing while it stays', () => {
    const presence = new WorkerPresence('rollouts');
    presence.observe(none, 0);
    expect(presence.observe(both, 10_000)).toBe(
      'a worker now polls task queue rollouts; the rollout can go on',
    );
    expect(presence.observe(both, 20_000)).toBeUndefined();
    expect(presence.observe(both, 90_000)).toBeUndefined();
  });

  it('tells whether it last saw no worker', () => {
    const presence = new WorkerPresence('rollouts');
    expect(presence.missing).toBe(false);
    presence.observe(none, 0);
    expect(presence.missing).toBe(true);
    presence.observe(both, 1);
    expect(presence.missing).toBe(false);
  });

  it('is silent while a worker polls from the start', () => {
    const presence = new WorkerPresence('rollouts');
    expect([0, 30_000, 60_000].map((at) => presence.observe(both, at))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('warns again at once when the worker goes away, and counts the new stretch from then', () => {
    const presence = new WorkerPresence('rollouts', { repeatEveryMs: 30_000 });
    presence.observe(both, 0);
    expect(presence.observe(none, 100_000)).toMatch(/^warning: no worker polls/);
    expect(presence.observe(none, 130_000)).toMatch(/\(for 30s\)$/);
  });

  it('names the kind of task nobody polls when only one is missing', () => {
    expect(new WorkerPresence('q').observe({ workflow: 1, activity: 0 }, 0)).toMatch(/for activity tasks,/);
    expect(new WorkerPresence('q').observe({ workflow: 0, activity: 1 }, 0)).toMatch(/for workflow tasks,/);
  });
});
