// Which users' presence changed at which stream token, for one user's /sync. Presence is ephemeral
// (the spec lets servers drop it), so this lives in memory: after the object restarts, an initial
// sync still shows everyone's presence from D1, and incremental syncs see changes from then on.

const MAX_USERS = 10_000;

export class PresenceChanges {
  private readonly bySid = new Map<string, number>();

  record(userId: string, sid: number): void {
    // Re-inserting keeps the map in token order, so the oldest entry is the first to go when full.
    this.bySid.delete(userId);
    if (this.bySid.size >= MAX_USERS) {
      const oldest = this.bySid.keys().next();
      if (!oldest.done) this.bySid.delete(oldest.value);
    }
    this.bySid.set(userId, sid);
  }

  /** Users whose presence changed after token `from`. */
  since(from: number): string[] {
    const out: string[] = [];
    for (const [userId, sid] of this.bySid) if (sid > from) out.push(userId);
    return out;
  }
}
