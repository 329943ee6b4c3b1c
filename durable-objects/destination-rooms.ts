// A destination queue's place in each hub room it pulls events from, kept in memory only (the
// room's outbox is the durable record; see destination.ts).

/** Where this queue stands with one hub room: the newest position announced, the last one sent. */
export interface RoomCursor {
  available: number;
  /** null until known: the first pull then starts after what the room last heard was delivered. */
  sent: number | null;
  /** The room has not been told `sent` yet. */
  unreported: boolean;
  /**
   * Pull once even if nothing new was announced: after failed sends the room, which announces only
   * to queues it expects to go quiet, may have stopped telling this one about its events.
   */
  probe: boolean;
}

/** Whether the room may have events this queue has not sent (or must be asked once: `probe`). */
export function hasWork(c: RoomCursor): boolean {
  return c.sent === null || c.sent < c.available || c.probe;
}
