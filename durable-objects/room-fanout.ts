// What the room owes each destination, over FanOutStorage: per destination the newest event it is
// owed (its tip) and how far it has had them (its cursor). Cursors a queue reports move in memory
// first and reach storage with the room's next write, since a write transaction of its own costs
// ~0.1 ms of CPU (bench/README.md); a restart before that delivers those events again, which
// receivers drop as duplicates.

import { FanOutStorage } from "./room-fanout-storage.js";
import type { OutboxRow } from "./room-storage.js";

export class FanOutLog {
  private readonly store: FanOutStorage;
  private readonly setIds = new Map<string, number>();
  private readonly tips = new Map<string, number>();
  private readonly cursors = new Map<string, number>();
  private readonly unsaved = new Set<string>();
  /**
   * Per destination, the position before the first event it was owed after last being caught up
   * (memory only): what came between was not for it, so it is no part of its backlog.
   */
  private readonly owedAfter = new Map<string, number>();
  /** Rows up to here are deleted. */
  private floor = 0;
  private setsAdded = 0;
  /** Per set, how far `prune` has dropped its rows. */
  private readonly prunedUpTo = new Map<number, number>();
  /** What the current write changes in memory once it commits (see `save`, `committed`). */
  private staged: { floor?: number; append?: { pos: number; destinations: readonly string[]; key: string; setId: number } } = {};

  constructor(storage: DurableObjectStorage) {
    this.store = new FanOutStorage(storage);
    for (const c of this.store.cursors()) this.cursors.set(c.destination, c.pos);
    for (const t of this.store.tips()) this.tips.set(t.destination, t.pos);
    this.store.dropUnusedSets();
  }

  /** Records that the event at `pos` goes to `destinations`, inside a write begun with `save`. */
  append(pos: number, destinations: readonly string[]): void {
    const sorted = [...new Set(destinations)].sort();
    const key = sorted.join("\n");
    let id = this.setIds.get(key) ?? this.store.setId(key);
    if (id === undefined) {
      id = this.store.addSet(key, sorted);
      this.setsAdded++;
    }
    this.staged.append = { pos, destinations, key, setId: id };
    this.store.append(pos, id);
  }

  /** The events for `destination` after `after` (default: its cursor), oldest first. */
  eventsFor(destination: string, after: number | undefined, limit: number): OutboxRow[] {
    return this.store.eventsFor(destination, after ?? this.cursor(destination), limit);
  }

  /** Like eventsFor, IDs only. */
  eventIdsFor(destination: string, limit: number): Array<{ pos: number; eventId: string }> {
    return this.store.eventIdsFor(destination, this.cursor(destination), limit);
  }

  /** The newest event `destination` is owed (0: none). */
  tip(destination: string): number {
    return this.tips.get(destination) ?? 0;
  }

  cursor(destination: string): number {
    return this.cursors.get(destination) ?? 0;
  }

  /** Events `destination` is owed and has not had: its newest owed position minus where it stands. */
  backlog(destination: string): number {
    return Math.max(0, this.tip(destination) - Math.max(this.cursor(destination), this.owedAfter.get(destination) ?? 0));
  }

  /** `destination` has everything up to `pos`. */
  delivered(destination: string, pos: number): void {
    if (pos <= this.cursor(destination)) return;
    this.cursors.set(destination, pos);
    this.unsaved.add(destination);
  }

  /** Destinations owed events, with the newest one. */
  pending(): Array<{ destination: string; pos: number }> {
    const out: Array<{ destination: string; pos: number }> = [];
    for (const [destination, pos] of this.tips) if (pos > this.cursor(destination)) out.push({ destination, pos });
    return out;
  }

  /** Whether cursors moved since they were last written. */
  get dirty(): boolean {
    return this.unsaved.size > 0;
  }

  /**
   * Begins a write: call it first inside the storage transaction, then `committed` once that
   * transaction committed (after a rollback, the next `save` starts over). Writes moved cursors and
   * deletes rows every destination has had.
   */
  save(): void {
    this.staged = {};
    // The floor moves only when a cursor does: a new row is owed to its destinations.
    if (this.unsaved.size === 0) return;
    for (const d of this.unsaved) this.store.saveCursor(d, this.cursor(d));
    let floor: number | undefined;
    let newest = 0;
    for (const [d, tip] of this.tips) {
      newest = Math.max(newest, tip);
      const c = this.cursor(d);
      if (tip > c) floor = Math.min(floor ?? c, c);
    }
    const upTo = floor ?? newest;
    if (upTo > this.floor) this.store.deleteUpTo(upTo);
    this.staged.floor = upTo;
  }

  /** The write begun with `save` committed: memory follows what it stored. */
  committed(): void {
    const { floor, append } = this.staged;
    this.staged = {};
    if (floor !== undefined) {
      this.unsaved.clear();
      this.floor = Math.max(this.floor, floor);
    }
    if (append) {
      this.setIds.set(append.key, append.setId);
      for (const d of append.destinations) {
        if (this.tip(d) <= this.cursor(d)) this.owedAfter.set(d, append.pos - 1);
        this.tips.set(d, append.pos);
      }
    }
  }

  /**
   * Drops rows above the floor that every destination of their set has had. A destination that
   * stops reporting (a server down for good) holds the floor where it stopped; without this, every
   * later row would stay, even once that server left the room. Call inside a write begun with
   * `save`, now and then (it reads every set).
   */
  prune(): void {
    for (const { id, destinations } of this.store.sets()) {
      let had = Infinity;
      for (const d of destinations.split("\n")) had = Math.min(had, this.cursor(d));
      const from = Math.max(this.floor, this.prunedUpTo.get(id) ?? 0);
      if (had === Infinity || had <= from) continue;
      this.store.deleteSetRows(id, from, had);
      this.prunedUpTo.set(id, had);
    }
  }

  /** Drops destination sets no row uses any more (membership changed); call now and then, in a write. */
  dropUnusedSets(): void {
    if (this.setsAdded === 0) return;
    this.store.dropUnusedSets();
    this.setIds.clear();
    this.prunedUpTo.clear();
    this.setsAdded = 0;
  }

  /** Rows still owed to each destination, for status pages (after `save`). */
  pendingCounts(): Array<{ destination: string; count: number }> {
    return this.store.pendingCounts();
  }
}
