// The pure media pieces: Content-Disposition, multipart/mixed, thumbnail sizing and image scaling.

import { decode as decodePng } from "fast-png";
import { describe, expect, it } from "vitest";
import { contentDisposition, filenameOfDisposition, isSafeInline, isValidContentType, isValidFilename } from "../../shared/content-disposition.js";
import { buildMultipartMixed, multipartBoundary, parseMultipartMixed } from "../../shared/multipart-mixed.js";
import { makeThumbnail, ThumbnailError } from "../../shared/thumbnail-image.js";
import { planResize, snapThumbnail } from "../../shared/thumbnail-size.js";
import { pngImage } from "../support/media-images.js";

describe("Content-Disposition", () => {
  it("serves only the spec's safe types inline, whatever their parameters or case", () => {
    expect(isSafeInline("image/PNG")).toBe(true);
    expect(isSafeInline("text/plain; charset=utf-8")).toBe(true);
    for (const t of ["text/html", "image/svg+xml", "application/javascript", "application/pdf", "text/xml"]) expect(isSafeInline(t), t).toBe(false);
  });

  it("writes plain, quoted and RFC 8187 filenames, and reads each form back", () => {
    for (const name of ["a.png", "two words.png", 'quote".txt', "räksmörgås.jpg", "emoji 🐱.gif", "it's (1).txt"]) {
      const header = contentDisposition("image/png", name);
      expect(header.startsWith("inline")).toBe(true);
      expect(filenameOfDisposition(header), header).toBe(name);
    }
    expect(contentDisposition("text/html", null)).toBe("attachment");
  });

  it("accepts type/subtype content types and refuses control characters and slashes in filenames", () => {
    expect(isValidContentType("image/png")).toBe(true);
    expect(isValidContentType("text/plain; charset=utf-8")).toBe(true);
    for (const bad of ["", "png", "image/", "/png", "image/png\n", "a b/c"]) expect(isValidContentType(bad), bad).toBe(false);
    expect(isValidFilename("ok.txt")).toBe(true);
    for (const bad of ["", "a/b", "a\\b", "a\u0000b", "x".repeat(256)]) expect(isValidFilename(bad)).toBe(false);
  });
});

describe("multipart/mixed", () => {
  it("round-trips parts with binary bodies that contain CRLFs and dashes", () => {
    const binary = new Uint8Array([0, 13, 10, 45, 45, 255, 13, 10, 13, 10, 1]);
    const body = buildMultipartMixed("b0undary", [
      { headers: { "Content-Type": "application/json" }, body: new TextEncoder().encode("{}") },
      { headers: { "Content-Type": "image/png", "Content-Disposition": "inline" }, body: binary },
    ]);
    const parts = parseMultipartMixed("b0undary", body);
    expect(parts?.map((p) => Object.fromEntries(p.headers))).toEqual([{ "content-type": "application/json" }, { "content-type": "image/png", "content-disposition": "inline" }]);
    expect(parts?.[1]?.body).toEqual(binary);
  });

  it("reads the boundary from a Content-Type, quoted or not, and refuses other types", () => {
    expect(multipartBoundary("multipart/mixed; boundary=abc")).toBe("abc");
    expect(multipartBoundary('Multipart/Mixed; charset=x; boundary="a b"')).toBe("a b");
    expect(multipartBoundary("application/json")).toBeUndefined();
    expect(multipartBoundary(null)).toBeUndefined();
  });

  it("answers undefined for truncated or headerless bodies rather than a partial part", () => {
    const body = buildMultipartMixed("xx", [{ headers: { A: "1" }, body: new Uint8Array([1, 2]) }]);
    expect(parseMultipartMixed("xx", body.subarray(0, body.length - 8))).toBeUndefined();
    expect(parseMultipartMixed("xx", new TextEncoder().encode("--xx\r\nno colon here\r\n\r\nbody\r\n--xx--"))).toBeUndefined();
    expect(parseMultipartMixed("yy", body)).toBeUndefined();
  });
});

describe("thumbnail sizes", () => {
  it("snaps requests to the spec's recommended sizes, at least as large as asked where one is", () => {
    expect(snapThumbnail(32, 32, "crop")).toEqual({ width: 32, height: 32, method: "crop" });
    expect(snapThumbnail(40, 40, "crop")).toEqual({ width: 96, height: 96, method: "crop" });
    expect(snapThumbnail(100, 100, "scale")).toEqual({ width: 320, height: 240, method: "scale" });
    expect(snapThumbnail(700, 500, "scale")).toEqual({ width: 800, height: 600, method: "scale" });
    expect(snapThumbnail(5000, 5000, "scale")).toEqual({ width: 800, height: 600, method: "scale" });
    expect(snapThumbnail(200, 200, "crop")).toEqual({ width: 320, height: 240, method: "crop" });
  });

  it("fits scale inside the box, fills crop from the centre, and never enlarges", () => {
    expect(planResize(1000, 500, { width: 320, height: 240, method: "scale" })).toMatchObject({ width: 320, height: 160 });
    expect(planResize(1000, 500, { width: 96, height: 96, method: "crop" })).toEqual({ sx: 250, sy: 0, sw: 500, sh: 500, width: 96, height: 96 });
    expect(planResize(50, 20, { width: 800, height: 600, method: "scale" })).toMatchObject({ width: 50, height: 20 });
    expect(planResize(50, 20, { width: 96, height: 96, method: "crop" })).toMatchObject({ width: 50, height: 20 });
  });

  it("makes a PNG thumbnail whose halves keep their colours", () => {
    const t = makeThumbnail(pngImage(200, 100), "image/png", { width: 96, height: 96, method: "crop" });
    const img = decodePng(t.bytes);
    expect([img.width, img.height, t.contentType]).toEqual([96, 96, "image/png"]);
    expect(Array.from(img.data.slice(0, 4))).toEqual([255, 0, 0, 255]);
    expect(Array.from(img.data.slice(95 * 4, 96 * 4))).toEqual([0, 0, 255, 255]);
  });

  it("refuses formats it cannot decode and images it cannot read with typed reasons", () => {
    expect(() => makeThumbnail(new Uint8Array(10), "image/webp", { width: 32, height: 32, method: "crop" })).toThrow(ThumbnailError);
    try {
      makeThumbnail(new Uint8Array([1, 2, 3]), "image/jpeg", { width: 32, height: 32, method: "crop" });
      expect.unreachable();
    } catch (e) {
      expect((e as ThumbnailError).reason).toBe("corrupt");
    }
  });
});
