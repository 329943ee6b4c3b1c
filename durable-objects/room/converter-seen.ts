// The dedup keys of provenance-carrying events as they are committed in a room, for an import that
// writes through a participant. Such an import sends an LPDU and waits for the hub's echo, but when
// another converter's copy got to the hub first the hub answers ours as a duplicate and no echo
// ever comes: the import then learns of that copy here, when the hub's fan-out commits it.

import { dedupKeyOf } from "../../shared/converter/dedup-key.js";
import type { Pdu } from "../../shared/event.js";
import type { DedupKeys } from "./converter-dedup-keys.js";

export interface KeyWait {
  /** Settles with the ID of the event committed under the key. */
  promise: Promise<string>;
  cancel(): void;
}

export class SeenKeys {
  private readonly waiters = new Map<string, Set<(eventId: string) => void>>();

  constructor(private readonly keys: DedupKeys) {}

  /** Remembers the key of `pdu`, just committed as `eventId`, and wakes the imports waiting for it. */
  async observe(roomId: string, eventId: string, pdu: Pdu): Promise<void> {
    const key = await dedupKeyOf(pdu, roomId, eventId);
    if (key === undefined) return;
    this.keys.putKey(key, eventId, Date.now());
    const waiting = this.waiters.get(key);
    this.waiters.delete(key);
    for (const wake of waiting ?? []) wake(this.keys.eventWithKey(key) ?? eventId);
  }

  /** Call with no await between the caller's own lookup of `key` and this, so no commit slips between. */
  waitFor(key: string): KeyWait {
    let wake!: (eventId: string) => void;
    const promise = new Promise<string>((resolve) => (wake = resolve));
    const set = this.waiters.get(key) ?? new Set();
    set.add(wake);
    this.waiters.set(key, set);
    return {
      promise,
      cancel: () => {
        set.delete(wake);
        if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
      },
    };
  }
}
