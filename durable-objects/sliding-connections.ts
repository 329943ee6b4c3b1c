// The connection bookkeeping behind sliding sync's `pos` (MSC4186 "Connections"), for the
// UserStream object: a request's pos is checked and confirmed, its response's rooms recorded under
// a new pos. A pos is only known to the device and conn_id it was issued to; anything else is
// M_UNKNOWN_POS, after which the client starts the connection again.

import { SlidingSyncStorage, type SentRoom } from "./sliding-sync-storage.js";

/** Connections kept per device; starting one more drops the least recently used. */
const MAX_CONNECTIONS_PER_DEVICE = 10;

export interface OpenedConnection {
  /** The confirmed pos (0 for a new connection). */
  pos: number;
  /** The stream token that pos stands for (0 for a new connection). */
  since: number;
  /** Rooms the client has seen on this connection, and how. */
  sent: SentRoom[];
}

export class SlidingConnections {
  private readonly store: SlidingSyncStorage;

  constructor(storage: DurableObjectStorage) {
    this.store = new SlidingSyncStorage(storage);
  }

  /** Checks and confirms `posText`; undefined when it is not a pos of this device's connection. */
  open(deviceId: string, connId: string, posText: string | undefined): OpenedConnection | undefined {
    if (posText === undefined) {
      this.store.dropConnection(deviceId, connId);
      const others = this.store.connections(deviceId);
      for (const c of others.slice(0, Math.max(0, others.length - MAX_CONNECTIONS_PER_DEVICE + 1))) this.store.dropConnection(deviceId, c);
      return { pos: 0, since: 0, sent: [] };
    }
    if (!/^[1-9]\d{0,15}$/.test(posText)) return undefined;
    const pos = Number(posText);
    const rows = this.store.positions(deviceId, connId);
    const byPos = new Map(rows.map((r) => [r.pos, r]));
    const target = byPos.get(pos);
    if (!target) return undefined;
    const chain: number[] = [];
    for (let p: number | undefined = pos; p !== undefined && p !== 0; p = byPos.get(p)?.parent) chain.unshift(p);
    const keep = new Set(chain);
    // Responses issued after this one on its branch may still be used; every other branch is abandoned.
    const descends = (p: number): boolean => {
      for (let q = byPos.get(p)?.parent; q !== undefined && q !== 0; q = byPos.get(q)?.parent) if (q === pos) return true;
      return false;
    };
    const drop = rows.map((r) => r.pos).filter((p) => !keep.has(p) && !descends(p));
    this.store.confirm(deviceId, connId, pos, chain, drop);
    return { pos, since: target.token, sent: this.store.baseRooms(deviceId, connId) };
  }

  /** Records a response: a new pos after `parent`, standing for `token`, with the rooms it sent. */
  commit(deviceId: string, connId: string, parent: number, token: number, rooms: readonly SentRoom[]): string {
    return String(this.store.addPosition(deviceId, connId, parent, token, rooms));
  }
}
