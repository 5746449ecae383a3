import { actorOf, OperatorControls, type RolloutSituation } from '../../workflows/operator-controls';

const running: RolloutSituation = { ended: false, rollingBack: false, awaitingApproval: null };

test('pause then resume, each refused when it cannot apply', () => {
  const controls = new OperatorControls();
  expect(controls.refusal('resume', running)).toBe('the rollout is not paused');
  expect(controls.refusal('pause', running)).toBeNull();
  controls.apply('pause', { actor: 'alice' }, running);
  expect(controls).toMatchObject({ paused: true, pausedBy: 'alice' });
  expect(controls.refusal('pause', running)).toBe('already paused by alice');
  controls.apply('resume', { actor: 'bob' }, running);
  expect(controls).toMatchObject({ paused: false, pausedBy: null });
});

test('approve only when a stage waits, and it approves that stage', () => {
  const controls = new OperatorControls();
  expect(controls.refusal('approve', running)).toBe('no stage is waiting for approval');
  const waiting = { ...running, awaitingApproval: 2 };
  expect(controls.refusal('approve', waiting)).toBeNull();
  expect(controls.describe('approve', { actor: 'carol' }, waiting)).toBe('stage 3 approved by carol');
  controls.apply('approve', { actor: 'carol' }, waiting);
  expect([...controls.approved]).toEqual([2]);
});

test('after a rollback request or the end, every action is refused', () => {
  const controls = new OperatorControls();
  controls.apply('rollback', { actor: 'dave', reason: 'errors' }, running);
  expect(controls.rollbackRequest).toEqual({ actor: 'dave', reason: 'errors' });
  for (const action of ['pause', 'resume', 'approve', 'rollback'] as const) {
    expect(controls.refusal(action, running)).toBe('the rollout is already rolling back');
    expect(new OperatorControls().refusal(action, { ...running, ended: true })).toBe('the rollout has ended');
  }
});

test('an actor is a short non-empty string; anything else is named as missing', () => {
  expect(actorOf({ actor: '  eve@host ' })).toBe('eve@host');
  expect(actorOf({ actor: 'x'.repeat(500) })).toHaveLength(200);
  expect(actorOf({})).toBe('unknown (no actor given)');
  expect(actorOf({ actor: 42 as unknown as string })).toBe('unknown (no actor given)');
  expect(actorOf(undefined)).toBe('unknown (no actor given)');
});
