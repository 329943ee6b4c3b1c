// DEFAULT_ROOM_VERSION (workers/config.ts): empty keeps Linearized Matrix the default for new rooms;
// "12" or "11" make new rooms full-mesh Matrix rooms; anything rooms cannot be created in is a
// configuration error that names the setting.

import { describe, expect, it } from "vitest";
import { defaultRoomVersion } from "../../workers/config.js";
import { LM_ROOM_VERSION_ID } from "../../shared/room-versions.js";

describe("DEFAULT_ROOM_VERSION", () => {
  it("leaves Linearized Matrix the default when empty or unset", () => {
    expect(defaultRoomVersion("").id).toBe(LM_ROOM_VERSION_ID);
    expect(defaultRoomVersion(undefined).id).toBe(LM_ROOM_VERSION_ID);
  });

  it("lets a deployment choose version 12 or 11", () => {
    expect(defaultRoomVersion("12").id).toBe("12");
    expect(defaultRoomVersion(" 11 ").id).toBe("11");
  });

  it("refuses a version rooms cannot be created in, naming the setting", () => {
    expect(() => defaultRoomVersion("9")).toThrow(/DEFAULT_ROOM_VERSION "9"/);
  });
});
