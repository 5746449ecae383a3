/**
 * What operators can ask of a running rollout, as a small pure state machine shared by the signal handlers,
 * the update validators and the workflow's waits. Pure (no SDK calls), so it is unit tested directly.
 */
export type OperatorAction = 'pause' | 'resume' | 'approve' | 'rollback';

export interface OperatorRequest {
  /** Who asks (user@host from the CLI). The Temporal UI sends whatever JSON the operator types. */
  actor?: string;
  reason?: string;
}

/** What the workflow is doing right now, as far as operator requests are concerned. */
export interface RolloutSituation {
  ended: boolean;
  rollingBack: boolean;
  /** Index of the stage waiting for approval, or null. */
  awaitingApproval: number | null;
}

export class OperatorControls {
  paused = false;
  pausedBy: string | null = null;
  approved = new Set<number>();
  rollbackRequest: { actor: string; reason: string } | null = null;

  /** Why `action` cannot be accepted now, or null when it can. Validators reject with this message. */
  refusal(action: OperatorAction, situation: RolloutSituation): string | null {
    if (situation.ended) return 'the rollout has ended';
    if (situation.rollingBack || this.rollbackRequest) return 'the rollout is already rolling back';
    switch (action) {
      case 'pause':
        return this.paused ? `already paused by ${this.pausedBy}` : null;
      case 'resume':
        return this.paused ? null : 'the rollout is not paused';
      case 'approve':
        return situation.awaitingApproval === null ? 'no stage is waiting for approval' : null;
      case 'rollback':
        return null;
    }
  }

  /** The audit line for an accepted request, before it takes effect. */
  describe(action: OperatorAction, request: OperatorRequest, situation: RolloutSituation): string {
    const actor = actorOf(request);
    const why = request?.reason ? `: ${request.reason}` : '';
    switch (action) {
      case 'pause':
        return `paused by ${actor}${why}`;
      case 'resume':
        return `resumed by ${actor}${why}`;
      case 'approve':
        return `stage ${(situation.awaitingApproval ?? 0) + 1} approved by ${actor}${why}`;
      case 'rollback':
        return `rollback requested by ${actor}: ${request?.reason ?? 'no reason given'}`;
    }
  }

  /** Makes an accepted request take effect. */
  apply(action: OperatorAction, request: OperatorRequest, situation: RolloutSituation): void {
    const actor = actorOf(request);
    switch (action) {
      case 'pause':
        this.paused = true;
        this.pausedBy = actor;
        return;
      case 'resume':
        this.paused = false;
        this.pausedBy = null;
        return;
      case 'approve':
        if (situation.awaitingApproval !== null) this.approved.add(situation.awaitingApproval);
        return;
      case 'rollback':
        this.rollbackRequest = { actor, reason: request?.reason ?? 'no reason given' };
        return;
    }
  }
}

/** Requests arrive from outside (CLI, UI); anything that is not a short string is not an identity. */
export function actorOf(request: OperatorRequest | undefined): string {
  const actor = request?.actor;
  return typeof actor === 'string' && actor.trim() !== ''
    ? actor.trim().slice(0, 200)
    : 'unknown (no actor given)';
}
