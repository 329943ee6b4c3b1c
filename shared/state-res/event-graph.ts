// The events one state resolution reads, looked up once each through the caller's synchronous
// getEvent and memoised for the rest of the call, with walks over the auth_events graph.

import type { Pdu } from "../event.js";
import { stateKeyOf } from "../event.js";

export class EventGraph {
  private readonly events = new Map<string, Pdu | null>();
  private readonly edges = new Map<string, readonly string[]>();

  constructor(private readonly lookup: (eventId: string) => Pdu | undefined) {}

  /** The event, or undefined when the caller does not know it (such events are skipped). */
  get(id: string): Pdu | undefined {
    let e = this.events.get(id);
    if (e === undefined) {
      e = this.lookup(id) ?? null;
      this.events.set(id, e);
    }
    return e ?? undefined;
  }

  /** The event's auth_events as listed (strings only, each once); none for an unknown event. */
  authIds(id: string): readonly string[] {
    let ids = this.edges.get(id);
    if (ids === undefined) {
      const list: unknown = this.get(id)?.auth_events;
      ids = Array.isArray(list) ? distinctStrings(list) : [];
      this.edges.set(id, ids);
    }
    return ids;
  }

  /** The first of the event's auth events at (type, stateKey), if any is known. */
  authEventAt(id: string, type: string, stateKey: string): [string, Pdu] | undefined {
    for (const a of this.authIds(id)) {
      const e = this.get(a);
      if (e && e.type === type && e.state_key === stateKey) return [a, e];
    }
    return undefined;
  }

  /**
   * Every event reachable from `starts` over auth_events, the starts included (the auth chains of a
   * state set, as implementations compute them). Events in `stop` are neither entered nor returned:
   * a closed set's own chains are already inside it.
   */
  closure(starts: Iterable<string>, stop?: ReadonlySet<string>): Set<string> {
    const seen = new Set<string>();
    const stack: string[] = [];
    for (const s of starts) if (!stop?.has(s) && !seen.has(s)) (seen.add(s), stack.push(s));
    while (stack.length > 0) {
      for (const a of this.authIds(stack.pop() as string)) {
        if (seen.has(a) || stop?.has(a)) continue;
        seen.add(a);
        stack.push(a);
      }
    }
    return seen;
  }
}

/** The strings of `list`, each once; `list` itself when it is already that (the usual case). */
function distinctStrings(list: readonly unknown[]): readonly string[] {
  if (list.every((a) => typeof a === "string") && new Set(list).size === list.length) return list as readonly string[];
  return [...new Set(list.filter((a): a is string => typeof a === "string"))];
}

export const keyOfEvent = (e: Pdu): string | undefined => (typeof e.state_key === "string" ? stateKeyOf(e.type, e.state_key) : undefined);
