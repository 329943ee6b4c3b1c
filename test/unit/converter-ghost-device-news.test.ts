import { describe, expect, it } from "vitest";
import { ghostUserId } from "../../shared/converter/ghost-user.js";
import { deviceListUpdateEdu, parseE2eeEdu } from "../../shared/e2ee-edus.js";
import { RESYNC_DEVICE_ID, toMatrixEdus } from "../../shared/matrix-edus.js";
import { possibleGhostsOf } from "../../workers/converter-device-lists.js";

const HUB = "hub.test";
const ctx = { messageId: (i: number) => `txn.${i}`, streamId: 999 };
const ghost = ghostUserId("mx", "@sam:syn.test", HUB) as string;

describe("a converter ghost's device-list news", () => {
  it("travels in the draft's form naming no device, with the ghost's stream position, and reads back as news about the ghost", () => {
    const edu = deviceListUpdateEdu(ghost, [], [], { prev: 4, next: 5 });
    expect(edu["content"]).toEqual({ changed: [], removed: [], stream_id: 5, prev_id: [4] });
    expect(parseE2eeEdu(edu)).toEqual({ kind: "device_list", userId: ghost, changed: [], removed: [] });
  });

  it("goes to a Matrix server as the deletion of a device that never existed, following the ghost's previous update", () => {
    expect(toMatrixEdus(deviceListUpdateEdu(ghost, [], [], { prev: 4, next: 5 }), 0, ctx)).toEqual([
      { edu_type: "m.device_list_update", content: { user_id: ghost, device_id: RESYNC_DEVICE_ID, deleted: true, stream_id: 5, prev_id: [4] } },
    ]);
  });

  it("has no Matrix form without a well-formed stream position", () => {
    expect(toMatrixEdus(deviceListUpdateEdu(ghost, [], []), 0, ctx)).toEqual([]);
    const bad = deviceListUpdateEdu(ghost, [], []);
    bad["content"] = { changed: [], removed: [], stream_id: "5", prev_id: [4] };
    expect(toMatrixEdus(bad, 0, ctx)).toEqual([]);
    bad["content"] = { changed: [], removed: [], stream_id: 5, prev_id: ["4"] };
    expect(toMatrixEdus(bad, 0, ctx)).toEqual([]);
  });

  it("is made for both ghosts a real user may have on the hub, never for a ghost of the hub itself", () => {
    expect(possibleGhostsOf("@sam:syn.test", HUB)).toEqual([ghostUserId("lm", "@sam:syn.test", HUB), ghost]);
    expect(possibleGhostsOf(ghost, HUB)).toEqual([]);
    expect(possibleGhostsOf("not a user", HUB)).toEqual([]);
  });
});
