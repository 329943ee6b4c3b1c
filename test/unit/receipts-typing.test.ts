import { describe, expect, it } from "vitest";
import { parseEphemeralEdu, receiptContent, receiptEdu, typingEdu } from "../../shared/receipts-typing.js";

const ROOM = "!r:hub.test";
const EVENT = "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

describe("typing and receipt EDUs", () => {
  it("round-trips a typing EDU, read by edu_type or type", () => {
    const edu = typingEdu(ROOM, "@a:p1.test", true);
    expect(parseEphemeralEdu(edu, 0)).toEqual([{ kind: "typing", roomId: ROOM, userId: "@a:p1.test", typing: true }]);
    expect(parseEphemeralEdu({ type: "m.typing", content: (edu as { content: unknown }).content }, 0)).toHaveLength(1);
  });

  it("round-trips a receipt EDU with its thread, and fills in a missing ts", () => {
    const r = { userId: "@a:p1.test", receiptType: "m.read", threadId: "main", eventId: EVENT, ts: 42 };
    expect(parseEphemeralEdu(receiptEdu(ROOM, r), 0)).toEqual([{ kind: "receipt", roomId: ROOM, receipt: r }]);
    const bare = { edu_type: "m.receipt", content: { [ROOM]: { "m.read": { "@a:p1.test": { event_ids: [EVENT] } } } } };
    expect(parseEphemeralEdu(bare, 7)).toEqual([{ kind: "receipt", roomId: ROOM, receipt: { userId: "@a:p1.test", receiptType: "m.read", threadId: "", eventId: EVENT, ts: 7 } }]);
  });

  it("accepts presence, ignores other EDU types, and skips malformed or private parts", () => {
    expect(parseEphemeralEdu({ edu_type: "m.presence", content: { push: [] } }, 0)).toEqual([{ kind: "presence" }]);
    expect(parseEphemeralEdu({ edu_type: "m.device_list_update", content: {} }, 0)).toBeUndefined();
    expect(parseEphemeralEdu({ edu_type: "m.typing", content: { room_id: "bad", user_id: "@a:x", typing: true } }, 0)).toEqual([]);
    const mixed = {
      edu_type: "m.receipt",
      content: { [ROOM]: { "m.read.private": { "@a:x": { event_ids: [EVENT] } }, "m.read": { "@b:x": { event_ids: ["nope"] }, bad: { event_ids: [EVENT] } } }, notaroom: {} },
    };
    expect(parseEphemeralEdu(mixed, 0)).toEqual([]);
  });

  it("builds the m.receipt content clients read: event -> type -> user -> {ts, thread_id}", () => {
    const content = receiptContent([
      { userId: "@a:x", receiptType: "m.read", threadId: "", eventId: EVENT, ts: 1 },
      { userId: "@b:x", receiptType: "m.read", threadId: "$t", eventId: EVENT, ts: 2 },
    ]);
    expect(content).toEqual({ [EVENT]: { "m.read": { "@a:x": { ts: 1 }, "@b:x": { ts: 2, thread_id: "$t" } } } });
  });
});
