// The MIMI hub's record of which provider got which commit's Welcome by notify: one notify per
// provider per commit, whether the Welcome came from a local client (now or released after its
// commit) or was relayed by an LM participant server, so a replay or a second copy adds nothing.

import { migrate, runAll, type Schema } from "./do-schema.js";

export const ROOM_MIMI_WELCOME_SCHEMA: Schema = {
  name: "room-mimi-welcomes",
  migrations: [
    {
      version: 1,
      description: "MIMI hub: Welcomes sent to followers by notify",
      up: runAll([`CREATE TABLE mimi_welcomes_sent (commit_event_id TEXT NOT NULL, provider TEXT NOT NULL, sent_ts INTEGER NOT NULL, PRIMARY KEY (commit_event_id, provider))`]),
    },
  ],
};

export class MimiWelcomeStorage {
  private readonly sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    migrate(storage, ROOM_MIMI_WELCOME_SCHEMA);
    this.sql = storage.sql;
  }

  /** Whether `provider` got (or is queued) the Welcome of `commitEventId` already. */
  sent(commitEventId: string, provider: string): boolean {
    return this.sql.exec(`SELECT 1 FROM mimi_welcomes_sent WHERE commit_event_id = ? AND provider = ?`, commitEventId, provider).toArray().length > 0;
  }

  markSent(commitEventId: string, provider: string, now: number): void {
    this.sql.exec(`INSERT OR IGNORE INTO mimi_welcomes_sent (commit_event_id, provider, sent_ts) VALUES (?, ?, ?)`, commitEventId, provider, now);
  }
}
