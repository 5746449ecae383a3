// The worker bundles this module; everything exported here is a workflow or a message definition.
export { RolloutWorkflow } from './rollout-workflow';
export {
  statusQuery,
  pauseSignal,
  resumeSignal,
  approveSignal,
  rollbackSignal,
  pauseUpdate,
  resumeUpdate,
  approveUpdate,
  rollbackUpdate,
} from './rollout-messages';
