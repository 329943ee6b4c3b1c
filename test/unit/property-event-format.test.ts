// Property-based tests of event parsing: arbitrary values and randomly mutated LPDUs and PDUs through
// the format checks (checkFormatLm/V11/V12, checkLpduFormat) and the signature and hash checks a hub
// and a participant run on inbound events. The checks may refuse, but only with a MatrixError; and a
// mutated event never passes format, signature and hash checks together unless what was signed is
// unchanged. FUZZ_RUNS raises the iteration counts for long runs.

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";
import { MatrixError } from "../../shared/errors.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { checkFormatLm, checkFormatV11, checkFormatV12, checkLpduFormat, MAX_EVENT_BYTES } from "../../shared/event-format.js";
import { checkContentHashes, checkLpduContentHash, verifyEventSignatures, verifyLpduSignature, type KeyLookup } from "../../shared/event-signatures.js";
import { eventIdOf } from "../../shared/hashes.js";
import { buildLocalPdu } from "../../shared/local-event.js";
import { buildLpdu, completeLpdu, lpduFromPdu } from "../../shared/lpdu.js";
import { LM_ROOM_VERSION, ROOM_VERSION_11 } from "../../shared/room-versions.js";
import { signingKeyFromSeed, type SigningKey } from "../../shared/signing-key.js";

const FUZZ_RUNS = Number(process.env["FUZZ_RUNS"] ?? "") || 0;
const runs = (n: number): number => Math.max(n, FUZZ_RUNS);
/** Long runs (FUZZ_RUNS) get long per-test timeouts. */
const TIMEOUT = FUZZ_RUNS > 0 ? 600_000 : 30_000;
let cases = 0;
afterAll(() => console.log(`[fuzz] property-event-format: ${cases} cases`));

const HUB = "hub.test";
const PARTICIPANT = "p1.test";
const ROOM = `!room:${HUB}`;
let hubKey: SigningKey;
let participantKey: SigningKey;
let lpdu: Lpdu;
let completed: Pdu;
let hubPlain: Pdu;
let v11Pdu: Pdu;

const keys: KeyLookup = async (server, keyId) => {
  if (server === HUB && keyId === hubKey.keyId) return hubKey.publicKey;
  if (server === PARTICIPANT && keyId === participantKey.keyId) return participantKey.publicKey;
  return undefined;
};

beforeAll(async () => {
  hubKey = await signingKeyFromSeed(new Uint8Array(32).fill(1), "hub1");
  participantKey = await signingKeyFromSeed(new Uint8Array(32).fill(2), "p1");
  const links = { authEvents: ["$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "$BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"], prevEvents: ["$CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"] };
  lpdu = await buildLpdu(
    { room_id: ROOM, type: "m.room.message", sender: `@bob:${PARTICIPANT}`, origin_server_ts: 1_700_000_000_000, content: { msgtype: "m.text", body: "hello", nested: { list: [1, "two", null, true] } } },
    participantKey,
    HUB,
  );
  completed = await completeLpdu(lpdu, links, HUB, hubKey, LM_ROOM_VERSION);
  hubPlain = await buildLocalPdu(
    { room_id: ROOM, type: "m.room.member", state_key: `@alice:${HUB}`, sender: `@alice:${HUB}`, origin_server_ts: 1_700_000_000_001, content: { membership: "join", displayname: "Alice" } },
    links,
    HUB,
    hubKey,
    LM_ROOM_VERSION,
  );
  v11Pdu = await buildLocalPdu(
    { room_id: ROOM, type: "m.room.message", sender: `@alice:${HUB}`, origin_server_ts: 1_700_000_000_002, content: { body: "v11" } },
    { ...links, depth: 5 },
    HUB,
    hubKey,
    ROOM_VERSION_11,
  );
});

function check<T>(arb: fc.Arbitrary<T>, numRuns: number, predicate: (v: T) => void | Promise<void>, async = false): Promise<void> | void {
  if (async) {
    return fc.assert(
      fc.asyncProperty(arb, async (v) => {
        cases++;
        await predicate(v);
      }),
      { numRuns: runs(numRuns) },
    );
  }
  fc.assert(
    fc.property(arb, (v) => {
      cases++;
      void predicate(v);
    }),
    { numRuns: runs(numRuns) },
  );
}

/** Runs a format check: passes, or throws a 400/413 MatrixError; anything else fails the property. */
function formatVerdict(run: () => void): "ok" | MatrixError {
  try {
    run();
    return "ok";
  } catch (e) {
    if (!(e instanceof MatrixError)) throw new Error(`format check threw ${String(e)} instead of a MatrixError`);
    expect([400, 413]).toContain(e.status);
    expect(["M_BAD_JSON", "M_TOO_LARGE"]).toContain(e.errcode);
    return e;
  }
}

const CHECKS: Array<[string, (v: unknown) => void]> = [
  ["checkFormatLm", checkFormatLm],
  ["checkFormatV11", checkFormatV11],
  ["checkFormatV12", checkFormatV12],
  ["checkLpduFormat", checkLpduFormat],
];

// Values a hostile peer can put anywhere: JSON of every shape, plus what JSON.parse never makes but a
// caller might pass (floats, non-JSON types) and values at the limits.
const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.maxSafeInteger(),
  fc.constantFrom(2 ** 53, -(2 ** 53), Number.NaN, Infinity, -0),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom("", "@", "@a:b", "@bob:p1.test", "!room:hub.test", "$", "$abc", "hub.test", "\ud800", "ed25519:x", "A".repeat(300), "é".repeat(200)),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: scalar },
  { weight: 3, arbitrary: fc.anything({ maxDepth: 3, withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true, withObjectString: true, withUnicodeString: true }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((n) => "x".repeat(n * (MAX_EVENT_BYTES / 2))) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 400 }).map((d) => JSON.parse("[".repeat(d) + "]".repeat(d)) as unknown) },
);

type Mutation = { at: number; op: "set" | "delete" | "add"; key: string; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom("set", "set", "delete", "add"),
  key: fc.oneof(fc.constantFrom("type", "sender", "room_id", "content", "hashes", "signatures", "hub_server", "auth_events", "prev_events", "state_key", "origin_server_ts", "unsigned", "event_id", "depth", "lpdu", "sha256", "__proto__"), fc.string({ maxLength: 6 })),
  value: hostileValue,
});

/** Every container (object or array) in `root`, root first. */
function containers(root: unknown): Array<Record<string, unknown> | unknown[]> {
  const out: Array<Record<string, unknown> | unknown[]> = [];
  const walk = (v: unknown) => {
    if (typeof v !== "object" || v === null) return;
    out.push(v as Record<string, unknown>);
    for (const x of Object.values(v)) walk(x);
  };
  walk(root);
  return out;
}

/** Applies mutations to a deep copy of `event` (a JSON value, so structuredClone is exact). */
function mutate(event: object, mutations: readonly Mutation[]): Record<string, unknown> {
  const copy = structuredClone(event) as Record<string, unknown>;
  for (const m of mutations) {
    const targets = containers(copy);
    const target = targets[m.at % targets.length] as Record<string, unknown>;
    const keys = Object.keys(target);
    // Some containers refuse some edits (a typed array's index, an array's length): those are skipped.
    try {
      if (m.op === "add" || keys.length === 0) {
        Object.defineProperty(target, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
        continue;
      }
      const key = keys[m.at % keys.length] as string;
      if (m.op === "delete") delete target[key];
      else target[key] = m.value;
    } catch {
      continue;
    }
  }
  return copy;
}

/** What signatures and hashes protect: everything but signatures, unsigned and event_id. */
function protectedPart(e: object): string | undefined {
  const { signatures: _s, unsigned: _u, event_id: _e, ...rest } = e as Record<string, unknown>;
  try {
    return canonicalJson(rest);
  } catch {
    return undefined;
  }
}

describe("event format checks on arbitrary input", { timeout: TIMEOUT }, () => {
  it("accept the unmutated events (control)", () => {
    expect(formatVerdict(() => checkLpduFormat(lpdu))).toBe("ok");
    expect(formatVerdict(() => checkFormatLm(completed))).toBe("ok");
    expect(formatVerdict(() => checkFormatLm(hubPlain))).toBe("ok");
    expect(formatVerdict(() => checkFormatV11(v11Pdu))).toBe("ok");
  });

  it("throw nothing but MatrixError for arbitrary values of any type", () => {
    check(hostileValue, 600, (v) => {
      for (const [, f] of CHECKS) formatVerdict(() => f(v));
    });
  });

  it("throw nothing but MatrixError for event-shaped objects whose fields hold arbitrary values", () => {
    const fields = ["room_id", "type", "state_key", "sender", "origin_server_ts", "content", "hashes", "signatures", "unsigned", "hub_server", "auth_events", "prev_events", "depth", "redacts"];
    const arb = fc.dictionary(fc.constantFrom(...fields), hostileValue, { maxKeys: fields.length });
    check(arb, 600, (obj) => {
      for (const [, f] of CHECKS) formatVerdict(() => f(obj));
    });
  });

  it("throw nothing but MatrixError for randomly mutated LPDUs and PDUs, and refuse oversized ones with 413", () => {
    const arb = fc.tuple(fc.constantFrom("lpdu", "completed", "plain", "v11"), fc.array(mutation, { minLength: 1, maxLength: 4 }));
    check(arb, 800, ([which, ms]) => {
      const base = { lpdu, completed, plain: hubPlain, v11: v11Pdu }[which];
      const m = mutate(base, ms);
      for (const [, f] of CHECKS) {
        const verdict = formatVerdict(() => f(m));
        if (verdict === "ok") {
          // Whatever passes really is within the size cap.
          const { event_id: _e, ...rest } = m;
          expect(new TextEncoder().encode(canonicalJson(rest)).length).toBeLessThanOrEqual(MAX_EVENT_BYTES);
        }
      }
    });
  });
});

describe("inbound event checks detect tampering", { timeout: TIMEOUT }, () => {
  it("an LPDU that passes format, signature and hash checks at the hub is unchanged in everything signed", async () => {
    await check(
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      300,
      async (ms) => {
        const m = mutate(lpdu, ms);
        if (formatVerdict(() => checkLpduFormat(m)) !== "ok") return;
        const sig = await verifyLpduSignature(m, keys);
        const hash = await checkLpduContentHash(m);
        if (sig.ok && hash) expect(protectedPart(m)).toBe(protectedPart(lpdu));
      },
      true,
    );
  });

  it("a hub PDU that passes format, signature and hash checks at a participant is unchanged in everything signed", async () => {
    await check(
      fc.tuple(fc.constantFrom("completed", "plain"), fc.array(mutation, { minLength: 1, maxLength: 3 })),
      300,
      async ([which, ms]) => {
        const base = which === "completed" ? completed : hubPlain;
        const m = mutate(base, ms);
        if (formatVerdict(() => checkFormatLm(m)) !== "ok") return;
        const sig = await verifyEventSignatures(m, LM_ROOM_VERSION, keys);
        const hashes = await checkContentHashes(m);
        if (sig.ok && hashes.ok) expect(protectedPart(m)).toBe(protectedPart(base));
      },
      true,
    );
  });

  it("changing any one signed field of an LPDU or PDU is detected", async () => {
    // One `set` of a top-level field other than signatures/unsigned/event_id to a different value.
    const field = fc.constantFrom("room_id", "type", "sender", "origin_server_ts", "content", "hashes", "hub_server", "state_key", "auth_events", "prev_events");
    await check(
      fc.tuple(fc.constantFrom("lpdu", "completed", "plain"), field, hostileValue),
      300,
      async ([which, key, value]) => {
        const base = { lpdu, completed, plain: hubPlain }[which] as unknown as Record<string, unknown>;
        const m = { ...structuredClone(base), [key]: value };
        if (protectedPart(m) === protectedPart(base)) return; // not a change
        if (which === "lpdu") {
          const ok = formatVerdict(() => checkLpduFormat(m)) === "ok" && (await verifyLpduSignature(m, keys)).ok && (await checkLpduContentHash(m));
          expect(ok).toBe(false);
        } else {
          const ok = formatVerdict(() => checkFormatLm(m)) === "ok" && (await verifyEventSignatures(m, LM_ROOM_VERSION, keys)).ok && (await checkContentHashes(m)).ok;
          expect(ok).toBe(false);
        }
      },
      true,
    );
  });

  it("the unmutated events pass every check, and a completed PDU still yields its participant's LPDU (control)", async () => {
    expect((await verifyLpduSignature(lpdu, keys)).ok).toBe(true);
    expect(await checkLpduContentHash(lpdu)).toBe(true);
    for (const e of [completed, hubPlain]) {
      expect((await verifyEventSignatures(e, LM_ROOM_VERSION, keys)).ok).toBe(true);
      expect((await checkContentHashes(e)).ok).toBe(true);
    }
    expect(await eventIdOf(lpduFromPdu(completed), LM_ROOM_VERSION)).toBe(await eventIdOf(lpdu, LM_ROOM_VERSION));
  });

  it("event IDs of arbitrary objects are computed or refused with a MatrixError", async () => {
    await check(
      fc.tuple(fc.constantFrom<object>(lpdu, completed, hubPlain), fc.array(mutation, { maxLength: 3 })),
      300,
      async ([base, ms]) => {
        const m = mutate(base, ms);
        try {
          expect(await eventIdOf(m, LM_ROOM_VERSION)).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
        } catch (e) {
          expect(e).toBeInstanceOf(MatrixError);
        }
      },
      true,
    );
  });
});
