import type { Kysely, Transaction } from 'kysely';
import type { AuditEventRow, Database } from './schema';

type Db = Kysely<Database> | Transaction<Database>;

export interface AuditEvent {
  rolloutId: string;
  /** Unique per rollout: an activity retried after a crash appends its decision once. */
  dedupeKey: string;
  actor: string;
  kind: string;
  details: Record<string, unknown>;
}

/** Appends a decision to the audit log; the table itself rejects updates and deletes. */
export async function appendAuditEvent(db: Db, event: AuditEvent): Promise<void> {
  await db
    .insertInto('rollout_audit_events')
    .values({
      rollout_id: event.rolloutId,
      dedupe_key: event.dedupeKey,
      actor: event.actor,
      kind: event.kind,
      details: JSON.stringify(event.details),
    })
    .onConflict((oc) => oc.columns(['rollout_id', 'dedupe_key']).doNothing())
    .execute();
}

export function listAuditEvents(db: Db, rolloutId: string): Promise<AuditEventRow[]> {
  return db
    .selectFrom('rollout_audit_events')
    .selectAll()
    .where('rollout_id', '=', rolloutId)
    .orderBy('id')
    .execute();
}
