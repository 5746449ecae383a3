import { OperatorControls, type RolloutSituation } from '../../workflows/operator-controls';

const running: RolloutSituation = { ended: false, rollingBack: false, awaitingApproval: null };

test('pause then resume, each refused when it cannot apply', () => {
  const controls = new OperatorControls();
  expect(controls.refusal('resume', running)).toBe('the rollout is not paused');
  expect(controls.refusal('pause', running)).toBeNull();
  controls.apply('pause', { actor: 'alice', reason: null }, running);
  expect(controls).toMatchObject({ paused: true, pausedBy: 'alice' });
  expect(controls.refusal('pause', running)).toBe('already paused by alice');
  controls.apply('resume', { actor: 'bob', reason: null }, running);
  expect(controls).toMatchObject({ paused: false, pausedBy: null });
});

test('approve only when a stage waits, and it approves that stage', () => {
  const controls = new OperatorControls();
  expect(controls.refusal('approve', running)).toBe('no stage is waiting for approval');
  const waiting = { ...running, awaitingApproval: 2 };
  expect(controls.refusal('approve', waiting)).toBeNull();
  expect(controls.describe('approve', { actor: 'carol', reason: null }, waiting)).toBe(
    'stage 3 approved by carol',
  );
  controls.apply('approve', { actor: 'carol', reason: null }, waiting);
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

test('a continued run takes over pause, approvals and a pending rollback', () => {
  const controls = new OperatorControls();
  controls.apply('pause', { actor: 'erin', reason: null }, running);
  controls.apply('approve', { actor: 'erin', reason: null }, { ...running, awaitingApproval: 1 });
  const next = OperatorControls.from(controls.carry());
  expect(next).toMatchObject({ paused: true, pausedBy: 'erin', rollbackRequest: null });
  expect([...next.approved]).toEqual([1]);
  expect(next.refusal('pause', running)).toBe('already paused by erin');
});

test('a rollback keeps the scope it asked for, says it in its audit line, and a continued run takes it over', () => {
  const controls = new OperatorControls();
  expect(controls.describe('rollback', { actor: 'dave', reason: 'errors', scope: 'flag' }, running)).toBe(
    'rollback requested by dave (scope flag): errors',
  );
  expect(controls.describe('rollback', { actor: 'dave', reason: null }, running)).toBe(
    "rollback requested by dave (the plan's scope): no reason given",
  );
  controls.apply('rollback', { actor: 'dave', reason: 'errors', scope: 'flag' }, running);
  expect(controls.rollbackRequest).toEqual({ actor: 'dave', reason: 'errors', scope: 'flag' });
  expect(OperatorControls.from(controls.carry()).rollbackRequest).toEqual({
    actor: 'dave',
    reason: 'errors',
    scope: 'flag',
  });
});
