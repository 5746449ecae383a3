/**
 * What operators can ask of a running rollout, as a small pure state machine shared by the signal handlers,
 * the update validators and the workflow's waits. Pure (no SDK calls), so it is unit tested directly.
 * Requests reach it only after `readOperatorRequest` has checked them.
 */
import type { CarriedControls, RollbackRequest } from './rollout-status';
import type { OperatorAction, ValidOperatorRequest } from './operator-request';

export type { OperatorAction, OperatorRequest } from './operator-request';

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
  rollbackRequest: RollbackRequest | null = null;

  /** Takes over the state a previous run of the same rollout handed on when it continued as new. */
  static from(carried: CarriedControls | undefined): OperatorControls {
    const controls = new OperatorControls();
    if (carried) {
      controls.paused = carried.paused;
      controls.pausedBy = carried.pausedBy;
      controls.approved = new Set(carried.approved);
      controls.rollbackRequest = carried.rollbackRequest;
    }
    return controls;
  }

  carry(): CarriedControls {
    return {
      paused: this.paused,
      pausedBy: this.pausedBy,
      approved: [...this.approved],
      rollbackRequest: this.rollbackRequest,
    };
  }

  /**
   * The rollout itself holds (`actor`: a gate, the drift guard) or lets go (null), shown in the status too;
   * an operator's pause and resume go through {@link apply}.
   */
  setHold(actor: string | null, shown: { paused: boolean; pausedBy: string | null }): void {
    this.paused = actor !== null;
    this.pausedBy = actor;
    shown.paused = this.paused;
    shown.pausedBy = actor;
  }

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
  describe(action: OperatorAction, request: ValidOperatorRequest, situation: RolloutSituation): string {
    const why = request.reason ? `: ${request.reason}` : '';
    switch (action) {
      case 'pause':
        return `paused by ${request.actor}${why}`;
      case 'resume':
        return `resumed by ${request.actor}${why}`;
      case 'approve':
        return `stage ${(situation.awaitingApproval ?? 0) + 1} approved by ${request.actor}${why}`;
      case 'rollback':
        return `rollback requested by ${request.actor} (${request.scope ? `scope ${request.scope}` : "the plan's scope"}): ${request.reason ?? 'no reason given'}`;
    }
  }

  /** Makes an accepted request take effect. */
  apply(action: OperatorAction, request: ValidOperatorRequest, situation: RolloutSituation): void {
    switch (action) {
      case 'pause':
        this.paused = true;
        this.pausedBy = request.actor;
        return;
      case 'resume':
        this.paused = false;
        this.pausedBy = null;
        return;
      case 'approve':
        if (situation.awaitingApproval !== null) this.approved.add(situation.awaitingApproval);
        return;
      case 'rollback':
        this.rollbackRequest = {
          actor: request.actor,
          reason: request.reason ?? 'no reason given',
          ...(request.scope ? { scope: request.scope } : {}),
        };
        return;
    }
  }
}
