// Commit listener: the D1 event index (event ID -> room), written by the alarm at most about once a
// second per room from the outbox's "" destination, so D1 sees batches rather than a write per event.

import type { FanOutLog } from "../room-fanout.js";
import type { CommitListener, Committed } from "./core.js";
import { FLUSH_BATCH, FLUSH_RETRY_MS, INDEX_DESTINATION } from "./outbox.js";

const INDEX_INTERVAL_MS = 1_000;

export interface IndexPorts {
  indexEvents(roomId: string, eventIds: readonly string[]): Promise<void>;
  alarmWithin(ms: number): Promise<void>;
}

export class EventIndexer implements CommitListener {
  private alarmPending = false;

  constructor(
    private readonly fanOut: FanOutLog,
    private readonly ports: IndexPorts,
  ) {}

  committed(_c: Committed): void {
    if (this.alarmPending) return;
    this.alarmPending = true;
    // The alarm may already be set further out (re-announcing fan-out every REANNOUNCE_MS).
    void this.ports.alarmWithin(INDEX_INTERVAL_MS);
  }

  /** The alarm: writes the events the index is owed, oldest first; a failure retries by alarm. */
  async flush(roomId: string): Promise<void> {
    this.alarmPending = false;
    try {
      for (;;) {
        const rows = this.fanOut.eventIdsFor(INDEX_DESTINATION, FLUSH_BATCH);
        const lastRow = rows[rows.length - 1];
        if (!lastRow) return;
        await this.ports.indexEvents(roomId, rows.map((r) => r.eventId));
        this.fanOut.delivered(INDEX_DESTINATION, lastRow.pos);
      }
    } catch (e) {
      console.error("event index write failed; retrying by alarm", e);
      await this.ports.alarmWithin(FLUSH_RETRY_MS);
    }
  }
}
