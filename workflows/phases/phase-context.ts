import type { RolloutPlan } from '../../src/plan/rollout-plan';
import type { OperatorControls } from '../operator-controls';
import type { RolloutJournal } from '../rollout-journal';
import type { RolloutInput, RolloutStatus } from '../rollout-status';
import type { RolloutWaits } from '../rollout-waits';

/** What every phase of one run shares: the checked plan, the status it fills in, how it records and waits. */
export interface PhaseContext {
  input: RolloutInput;
  plan: RolloutPlan;
  status: RolloutStatus;
  controls: OperatorControls;
  journal: RolloutJournal;
  waits: RolloutWaits;
}
