// The licence the project is published under: the Apache License 2.0, as Synapse and matrix-js-sdk.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
// SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the text to ship unmodified.
const APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30";

describe("licence", () => {
  it("ships the unmodified Apache License 2.0 text as LICENSE", () => {
    const file = join(ROOT, "LICENSE");
    expect(existsSync(file), "LICENSE is missing").toBe(true);
    const text = readFileSync(file);
    expect(text.toString("utf8")).toContain("Apache License\n                           Version 2.0, January 2004");
    expect(createHash("sha256").update(text).digest("hex")).toBe(APACHE_2_0_SHA256);
  });

  it("names the same licence in package.json as an SPDX identifier", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { license?: string };
    expect(pkg.license).toBe("Apache-2.0");
  });
});
