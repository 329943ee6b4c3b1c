import { describe, expect, it } from "vitest";
import { canonicalJsonBytes } from "../../shared/canonical-json.js";
import { MatrixError } from "../../shared/errors.js";
import { MAX_EVENT_BYTES, checkFormatLm, checkFormatV11, checkFormatV12, checkLpduFormat } from "../../shared/event-format.js";
import { redactLm, redactV11, redactV12 } from "../../shared/redaction.js";
import {
  DEFAULT_ROOM_VERSION,
  LM_ROOM_VERSION_ID,
  SUPPORTED_ROOM_VERSIONS,
  SUPPORTED_ROOM_VERSION_IDS,
  getRoomVersion,
} from "../../shared/room-versions.js";

const H = "A".repeat(43); // 32 bytes of unpadded base64
const ID = (c: string) => "$" + c.repeat(43);

const lmEvent = (): Record<string, any> => ({
  room_id: "!room:hub.example",
  type: "m.room.message",
  sender: "@alice:p1.example",
  origin_server_ts: 1_700_000_000_000,
  content: { body: "hi" },
  hub_server: "hub.example",
  hashes: { sha256: H, lpdu: { sha256: H } },
  signatures: { "hub.example": { "ed25519:1": "sig" }, "p1.example": { "ed25519:1": "sig" } },
  auth_events: [ID("a"), ID("b")],
  prev_events: [ID("c")],
});

const v11Event = (): Record<string, any> => {
  const { hub_server: _h, hashes: _x, ...rest } = lmEvent();
  return { ...rest, hashes: { sha256: H }, depth: 4 };
};

const v12Event = (): Record<string, any> => ({ ...v11Event(), room_id: "!" + "R".repeat(43) });

const lpdu = (): Record<string, any> => {
  const { auth_events: _a, prev_events: _p, ...rest } = lmEvent();
  return { ...rest, hashes: { lpdu: { sha256: H } } };
};

/** Asserts `f` throws a MatrixError with this errcode/status whose message matches. */
function expectError(f: () => void, errcode: string, status: number, message?: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(MatrixError);
  expect((caught as MatrixError).errcode).toBe(errcode);
  expect((caught as MatrixError).status).toBe(status);
  if (message) expect((caught as MatrixError).message).toMatch(message);
}

const badJson = (f: () => void, message?: RegExp) => expectError(f, "M_BAD_JSON", 400, message);

describe("valid events pass", () => {
  it("LM with hub, LM without hub, v11, v12, LPDU", () => {
    expect(() => checkFormatLm(lmEvent())).not.toThrow();
    const { hub_server: _h, ...noHub } = lmEvent();
    expect(() => checkFormatLm({ ...noHub, hashes: { sha256: H }, prev_events: [ID("c"), ID("d")] })).not.toThrow();
    expect(() => checkFormatV11(v11Event())).not.toThrow();
    expect(() => checkFormatV12(v12Event())).not.toThrow();
    expect(() => checkLpduFormat(lpdu())).not.toThrow();
  });

  it("a v12 create event has no room_id; an LM create has no prev_events", () => {
    const create: Record<string, any> = { ...v12Event(), type: "m.room.create", state_key: "", auth_events: [], prev_events: [] };
    delete create.room_id;
    expect(() => checkFormatV12(create)).not.toThrow();
    expect(() => checkFormatLm({ ...lmEvent(), type: "m.room.create", state_key: "", auth_events: [], prev_events: [] })).not.toThrow();
  });

  it("ignores an event_id the reference implementation adds", () => {
    expect(() => checkFormatLm({ ...lmEvent(), event_id: ID("z") })).not.toThrow();
  });
});

describe("non-objects and wrong types get clear errors", () => {
  it.each([null, undefined, "event", 5, [], true])("rejects %s", (v) => {
    badJson(() => checkFormatLm(v), /must be a JSON object/);
    badJson(() => checkLpduFormat(v), /must be a JSON object/);
  });

  const cases: Array<[string, (e: Record<string, any>) => void, RegExp]> = [
    ["missing type", (e) => delete e.type, /"type" is required/],
    ["numeric type", (e) => (e.type = 7), /"type" is required and must be a string/],
    ["numeric state_key", (e) => (e.state_key = 0), /"state_key" must be a string/],
    ["missing sender", (e) => delete e.sender, /"sender" is required/],
    ["missing content", (e) => delete e.content, /"content" is required and must be an object/],
    ["array content", (e) => (e.content = []), /"content" .* must be an object, got an array/],
    ["string timestamp", (e) => (e.origin_server_ts = "1"), /"origin_server_ts" .* integer/],
    ["missing hashes", (e) => delete e.hashes, /"hashes" is required/],
    ["non-base64 sha256", (e) => (e.hashes.sha256 = "not base64!"), /"hashes.sha256" must be an unpadded base64 SHA-256/],
    ["short sha256", (e) => (e.hashes.sha256 = "AAAA"), /"hashes.sha256"/],
    ["missing signatures", (e) => delete e.signatures, /"signatures" must be an object/],
    ["signatures of strings", (e) => (e.signatures = { "hub.example": "x" }), /"signatures.hub.example" must be an object/],
    ["non-string signature", (e) => (e.signatures["hub.example"]["ed25519:1"] = 1), /"signatures.hub.example.ed25519:1" must be a string/],
    ["auth_events not an array", (e) => (e.auth_events = ID("a")), /"auth_events" must be an array/],
    ["missing prev_events", (e) => delete e.prev_events, /"prev_events" must be an array/],
    ["unsigned not an object", (e) => (e.unsigned = 3), /"unsigned" must be an object/],
    ["hub without lpdu hash", (e) => delete e.hashes.lpdu, /"hashes.lpdu" must be an object/],
    ["lpdu hash without hub", (e) => delete e.hub_server, /"hashes.lpdu" is only allowed on events with "hub_server"/],
    ["two prev_events with hub", (e) => e.prev_events.push(ID("d")), /exactly 1 entry in "prev_events", got 2/],
    ["no prev_events with hub", (e) => (e.prev_events = []), /exactly 1 entry in "prev_events", got 0/],
    ["float in content", (e) => (e.content.n = 1.5), /integers/],
  ];

  it.each(cases)("LM: %s", (_name, mutate, message) => {
    const e = lmEvent();
    mutate(e);
    badJson(() => checkFormatLm(e), message);
  });

  it("v11/v12: depth is required and must be a non-negative integer", () => {
    for (const [check, make] of [
      [checkFormatV11, v11Event],
      [checkFormatV12, v12Event],
    ] as const) {
      const e = make();
      delete e.depth;
      badJson(() => check(e), /"depth" is required/);
      badJson(() => check({ ...make(), depth: -1 }), /"depth"/);
      badJson(() => check({ ...make(), depth: "4" }), /"depth"/);
    }
  });

  it("v11: at most 10 auth_events and 20 prev_events", () => {
    badJson(() => checkFormatV11({ ...v11Event(), auth_events: Array.from({ length: 11 }, () => ID("a")) }), /"auth_events" has 11 entries; at most 10/);
    badJson(() => checkFormatV11({ ...v11Event(), prev_events: Array.from({ length: 21 }, () => ID("a")) }), /"prev_events" has 21 entries; at most 20/);
  });
});

describe("identifiers", () => {
  it.each([
    ["room_id", "room"],
    ["room_id", "!nocolon"],
    ["room_id", "#alias:hub.example"],
    ["sender", "alice"],
    ["sender", "@alice"],
    ["sender", "@alice:bad server"],
    ["sender", "@al:ice:"],
    ["hub_server", "bad server"],
    ["hub_server", ""],
    ["hub_server", 5],
  ])("LM rejects %s = %j", (field, value) => {
    badJson(() => checkFormatLm({ ...lmEvent(), [field]: value }), new RegExp(`"${field}"`));
  });

  it.each(["", "$", "abc", "$ab cd", "$abc/def", "$legacy:server.example", 7, null])("rejects event ID %j in auth_events and prev_events", (id) => {
    badJson(() => checkFormatLm({ ...lmEvent(), auth_events: [ID("a"), id] }), /"auth_events\[1\]" must be an event ID/);
    badJson(() => checkFormatLm({ ...lmEvent(), prev_events: [id] }), /"prev_events\[0\]" must be an event ID/);
  });

  it("v12 room IDs are hashes; v11 and LM room IDs have a server", () => {
    badJson(() => checkFormatV12({ ...v12Event(), room_id: "!r:hub.example" }), /reference hash/);
    badJson(() => checkFormatV11({ ...v11Event(), room_id: "!" + "R".repeat(43) }), /"!opaque:server"/);
    badJson(() => checkFormatLm({ ...lmEvent(), room_id: "!" + "R".repeat(43) }), /"!opaque:server"/);
    badJson(() => checkFormatV12({ ...v12Event(), type: "m.room.create", room_id: 5 }), /"room_id" must be a room ID/);
  });

  it("type and state_key: LM counts 255 characters, Matrix versions 255 bytes", () => {
    const e = "é".repeat(255); // 255 characters, 510 bytes
    expect(() => checkFormatLm({ ...lmEvent(), type: e, state_key: e })).not.toThrow();
    badJson(() => checkFormatLm({ ...lmEvent(), type: e + "x" }), /"type" exceeds 255 characters/);
    badJson(() => checkFormatLm({ ...lmEvent(), state_key: e + "x" }), /"state_key" exceeds 255 characters/);
    badJson(() => checkFormatV11({ ...v11Event(), type: e }), /"type" exceeds 255 bytes/);
    badJson(() => checkFormatV12({ ...v12Event(), state_key: e }), /"state_key" exceeds 255 bytes/);
    expect(() => checkFormatV11({ ...v11Event(), state_key: "x".repeat(255) })).not.toThrow();
  });
});

describe("size limit", () => {
  /** An otherwise valid event whose canonical JSON is exactly `bytes` long. */
  function eventOfSize(base: Record<string, any>, bytes: number): Record<string, any> {
    const e = { ...base, content: { body: "" } };
    const overhead = canonicalJsonBytes(e).length;
    e.content.body = "x".repeat(bytes - overhead);
    expect(canonicalJsonBytes(e).length).toBe(bytes);
    return e;
  }

  it(`accepts ${MAX_EVENT_BYTES} bytes and answers 413 M_TOO_LARGE for 65,537`, () => {
    expect(MAX_EVENT_BYTES).toBe(65_536);
    for (const [check, base] of [
      [checkFormatLm, lmEvent()],
      [checkFormatV11, v11Event()],
      [checkFormatV12, v12Event()],
      [checkLpduFormat, lpdu()],
    ] as const) {
      expect(() => check(eventOfSize(base, 65_536))).not.toThrow();
      expectError(() => check(eventOfSize(base, 65_537)), "M_TOO_LARGE", 413, /65537 bytes/);
    }
  });

  it("counts signatures toward the limit", () => {
    const e = eventOfSize(lmEvent(), 65_500);
    e.signatures["other.example"] = { "ed25519:1": "s".repeat(100) };
    expectError(() => checkFormatLm(e), "M_TOO_LARGE", 413);
  });
});

describe("LPDUs", () => {
  it.each([
    ["auth_events set", (l: Record<string, any>) => (l.auth_events = []), /"auth_events" must not be set by a participant/],
    ["prev_events set", (l: Record<string, any>) => (l.prev_events = [ID("c")]), /"prev_events" must not be set/],
    ["no hub_server", (l: Record<string, any>) => delete l.hub_server, /"hub_server" is required/],
    ["top-level sha256", (l: Record<string, any>) => (l.hashes.sha256 = H), /"hashes" may hold only "lpdu"; found "sha256"/],
    ["no lpdu hash", (l: Record<string, any>) => (l.hashes = {}), /"hashes.lpdu" must be an object/],
    ["bad lpdu hash", (l: Record<string, any>) => (l.hashes.lpdu.sha256 = 5), /"hashes.lpdu.sha256"/],
    ["bad sender", (l: Record<string, any>) => (l.sender = "nobody"), /"sender"/],
  ])("rejects %s", (_name, mutate, message) => {
    const l = lpdu();
    mutate(l);
    badJson(() => checkLpduFormat(l), message);
  });
});

describe("never mutates its input", () => {
  it("leaves the event unchanged", () => {
    const e = lmEvent();
    const before = structuredClone(e);
    checkFormatLm(e);
    expect(e).toEqual(before);
  });
});

describe("room-version registry", () => {
  it("knows LM (the default), 11 and 12, with their own format checks and redaction", () => {
    expect(SUPPORTED_ROOM_VERSION_IDS).toEqual([LM_ROOM_VERSION_ID, "11", "12"]);
    expect(SUPPORTED_ROOM_VERSIONS.map((v) => v.id)).toEqual(SUPPORTED_ROOM_VERSION_IDS);
    expect(DEFAULT_ROOM_VERSION.id).toBe("org.matrix.i-d.ralston-mimi-linearized-matrix.02");

    const lm = getRoomVersion(LM_ROOM_VERSION_ID);
    const v11 = getRoomVersion("11");
    const v12 = getRoomVersion("12");
    expect(lm).toBe(DEFAULT_ROOM_VERSION);
    expect([lm?.linearized, v11?.linearized, v12?.linearized]).toEqual([true, false, false]);
    expect([lm?.roomIdFromCreateEvent, v11?.roomIdFromCreateEvent, v12?.roomIdFromCreateEvent]).toEqual([false, false, true]);
    expect([lm?.redact, v11?.redact, v12?.redact]).toEqual([redactLm, redactV11, redactV12]);

    expect(() => lm?.checkFormat(lmEvent())).not.toThrow();
    expect(() => v11?.checkFormat(v11Event())).not.toThrow();
    expect(() => v12?.checkFormat(v12Event())).not.toThrow();
    badJson(() => v11?.checkFormat(lmEvent()), /"depth" is required/);
    badJson(() => lm?.checkFormat(v12Event()), /"!opaque:server"/);
    expect(() => lm?.checkFormat(v11Event())).not.toThrow(); // an LM event made outside a hub; depth is ignored
  });

  it("wires each version to auth-events selection and auth rules", () => {
    for (const v of SUPPORTED_ROOM_VERSIONS) {
      expect(typeof v.authEventKeys).toBe("function");
      expect(typeof v.checkAuth).toBe("function");
      const keys = v.authEventKeys({ type: "m.room.message", sender: "@a:hub.example", content: {} });
      expect(Array.isArray(keys)).toBe(true);
      expect(keys).toContainEqual(["m.room.member", "@a:hub.example"]);
    }
  });

  it.each(["1", "10", "13", "", "__proto__", "constructor", "I.1", 11, null, undefined, {}])("has nothing for %j", (id) => {
    expect(getRoomVersion(id)).toBeUndefined();
  });
});
