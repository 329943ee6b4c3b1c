import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { convertedSender, decodeGhostPart, encodeGhostPart, ghostUserId, parseGhost, realUserOf } from "../../shared/converter/ghost-user.js";
import { isStrictLocalpart, isUserId } from "../../shared/ids.js";

const HUB = "hub.localhost:8787";

describe("ghost user IDs", () => {
  it("spells a remote sender with the spec's escaping, in the strict grammar", () => {
    const ghost = ghostUserId("lm", "@Alice_W:p1.localhost:8788", HUB);
    expect(ghost).toBe("@_lm__alice___w=3ap1.localhost=3a8788:hub.localhost:8787");
    expect(isUserId(ghost)).toBe(true);
    expect(isStrictLocalpart(ghost!.slice(1, ghost!.indexOf(":")))).toBe(true);
    expect(ghostUserId("mx", "@bob:syn.localhost", HUB)).toBe("@_mx_bob=3asyn.localhost:hub.localhost:8787");
  });

  it("is reversible: the ghost names its kind and the real user", () => {
    for (const user of ["@Alice_W:p1.localhost:8788", "@bob:[::1]:8448", "@x=y/z+1.-:example.org", "@~!#$%&'*:example.org"]) {
      for (const kind of ["lm", "mx"] as const) {
        const ghost = ghostUserId(kind, user, HUB);
        expect(ghost).toBeDefined();
        expect(parseGhost(ghost!, HUB)).toEqual({ kind, userId: user });
        expect(realUserOf(ghost!, HUB)).toBe(user);
      }
    }
  });

  it("gives different users different ghosts, and every ghost is a valid strict user ID (property)", () => {
    // Historical localparts: printable ASCII except ':'.
    const local = fc.stringMatching(/^[\x21-\x39\x3b-\x7e]{1,40}$/);
    const server = fc.constantFrom("a.example", "b.example:8448", "[::1]", "127.0.0.1:80");
    fc.assert(
      fc.property(local, server, local, server, (l1, s1, l2, s2) => {
        const [u1, u2] = [`@${l1}:${s1}`, `@${l2}:${s2}`];
        const [g1, g2] = [ghostUserId("lm", u1, HUB), ghostUserId("lm", u2, HUB)];
        if (g1 === undefined || g2 === undefined) return;
        expect(isUserId(g1)).toBe(true);
        expect(isStrictLocalpart(g1.slice(1, g1.indexOf(":")))).toBe(true);
        expect(g1 === g2).toBe(u1 === u2);
        expect(parseGhost(g1, HUB)?.userId).toBe(u1);
      }),
      { numRuns: 500 },
    );
  });

  it("round-trips any string through the escaping, including non-ASCII", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        expect(decodeGhostPart(encodeGhostPart(s))).toBe(s);
      }),
      { numRuns: 500 },
    );
    expect(encodeGhostPart("é")).toBe("=c3=a9");
    expect(decodeGhostPart(encodeGhostPart("\ufeffx"))).toBe("\ufeffx");
  });

  it("decodes only the canonical spelling", () => {
    expect(decodeGhostPart("=61")).toBeUndefined(); // "a" is spelled "a"
    expect(decodeGhostPart("_A")).toBeUndefined();
    expect(decodeGhostPart("_1")).toBeUndefined();
    expect(decodeGhostPart("=3")).toBeUndefined();
    expect(decodeGhostPart("=3A")).toBeUndefined();
    expect(decodeGhostPart("=ff")).toBeUndefined(); // not UTF-8
    expect(decodeGhostPart("A")).toBeUndefined();
    expect(decodeGhostPart("ok=3a")).toBe("ok:");
  });

  it("refuses a ghost longer than 255 characters", () => {
    const long = `@${"Q".repeat(200)}:example.org`;
    expect(isUserId(long)).toBe(true);
    expect(ghostUserId("lm", long, HUB)).toBeUndefined();
    expect(ghostUserId("lm", "not a user", HUB)).toBeUndefined();
  });

  it("does not read other users as ghosts", () => {
    expect(parseGhost("@alice:hub.localhost:8787", HUB)).toBeUndefined();
    expect(parseGhost("@_lm_alice=3ap1:other.example", HUB)).toBeUndefined();
    expect(parseGhost("@_lm_=zz:hub.localhost:8787", HUB)).toBeUndefined();
    expect(parseGhost("@_lm_nocolon:hub.localhost:8787", HUB)).toBeUndefined(); // decodes to "nocolon", not a user ID
    expect(realUserOf("@alice:p1.example", HUB)).toBe("@alice:p1.example");
  });
});

describe("the sender of a converted event", () => {
  it("is a local user themself, a remote user's ghost, and nobody for a ghost of this hub", () => {
    expect(convertedSender("lm", "@carol:hub.localhost:8787", HUB)).toBe("@carol:hub.localhost:8787");
    expect(convertedSender("lm", "@alice:p1.localhost:8788", HUB)).toBe("@_lm_alice=3ap1.localhost=3a8788:hub.localhost:8787");
    expect(convertedSender("mx", "@bob:syn.localhost", HUB)).toBe("@_mx_bob=3asyn.localhost:hub.localhost:8787");
    expect(convertedSender("lm", "@_mx_bob=3asyn.localhost:hub.localhost:8787", HUB)).toBeUndefined();
    expect(convertedSender("mx", "@_mx_bob=3asyn.localhost:hub.localhost:8787", HUB)).toBeUndefined();
  });
});
