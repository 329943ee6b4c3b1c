// Thumbnails of PNG, JPEG and GIF images in plain JavaScript (jpeg-js, fast-png, omggif), so the same
// code runs in workerd, deployed or local, and in Node. The first frame of an animated GIF is used.
// WebP and other formats are not decoded here: the caller answers that it cannot thumbnail them.

import { decode as decodeJpeg, encode as encodeJpeg } from "jpeg-js";
import { convertIndexedToRgb, decode as decodePng, encode as encodePng } from "fast-png";
import { GifReader } from "omggif";
import { mediaTypeEssence } from "./content-disposition.js";
import { planResize, type ThumbnailSpec } from "./thumbnail-size.js";

/**
 * Largest source decoded, in pixels: a 12-megapixel photo decodes to about 72 MB in a Worker's
 * 128 MB, so larger images are refused rather than risk the isolate.
 */
export const MAX_THUMBNAIL_SOURCE_PIXELS = 12_600_000;

export type ThumbnailFailure = "unsupported" | "too_large" | "corrupt";

export class ThumbnailError extends Error {
  constructor(
    readonly reason: ThumbnailFailure,
    message: string,
  ) {
    super(message);
    this.name = "ThumbnailError";
  }
}

interface Raster {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA) bytes per pixel. */
  channels: 3 | 4;
  data: Uint8Array;
}

const THUMBNAILABLE = new Set(["image/jpeg", "image/jpg", "image/png", "image/gif"]);

export function canThumbnail(contentType: string): boolean {
  return THUMBNAILABLE.has(mediaTypeEssence(contentType));
}

function checkSize(width: number, height: number): void {
  if (!(width > 0 && height > 0)) throw new ThumbnailError("corrupt", "image has no pixels");
  if (width * height > MAX_THUMBNAIL_SOURCE_PIXELS) throw new ThumbnailError("too_large", `image of ${width}x${height} pixels is too large to thumbnail`);
}

/** Width and height from a PNG's IHDR, read before decoding so a decompression bomb is refused cheaply. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  if (bytes.length < 24) throw new ThumbnailError("corrupt", "truncated PNG");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}

function pngRaster(bytes: Uint8Array): Raster {
  const { width, height } = pngSize(bytes);
  checkSize(width, height);
  const png = decodePng(bytes);
  checkSize(png.width, png.height);
  const n = png.width * png.height;
  const out = new Uint8Array(n * 4);
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    const ch = rgb.length / n;
    for (let i = 0; i < n; i++) {
      out[i * 4] = rgb[i * ch] as number;
      out[i * 4 + 1] = rgb[i * ch + 1] as number;
      out[i * 4 + 2] = rgb[i * ch + 2] as number;
      out[i * 4 + 3] = ch === 4 ? (rgb[i * ch + 3] as number) : 255;
    }
    return { width: png.width, height: png.height, channels: 4, data: out };
  }
  const ch = png.channels;
  const shift = png.depth === 16 ? 8 : 0;
  const scale = png.depth < 8 ? 255 / ((1 << png.depth) - 1) : 1;
  const at = (i: number) => Math.round(((png.data[i] as number) >> shift) * scale);
  for (let i = 0; i < n; i++) {
    const gray = ch <= 2;
    const r = at(i * ch);
    out[i * 4] = r;
    out[i * 4 + 1] = gray ? r : at(i * ch + 1);
    out[i * 4 + 2] = gray ? r : at(i * ch + 2);
    out[i * 4 + 3] = ch === 2 ? at(i * ch + 1) : ch === 4 ? at(i * ch + 3) : 255;
  }
  return { width: png.width, height: png.height, channels: 4, data: out };
}

function jpegRaster(bytes: Uint8Array): Raster {
  const maxMp = MAX_THUMBNAIL_SOURCE_PIXELS / 1_000_000;
  try {
    const img = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: maxMp, maxMemoryUsageInMB: 96 });
    return { width: img.width, height: img.height, channels: 3, data: img.data };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/maxResolutionInMP|memory/i.test(msg)) throw new ThumbnailError("too_large", `JPEG too large to thumbnail: ${msg}`);
    throw err;
  }
}

function gifRaster(bytes: Uint8Array): Raster {
  const gif = new GifReader(bytes);
  checkSize(gif.width, gif.height);
  const data = new Uint8Array(gif.width * gif.height * 4);
  gif.decodeAndBlitFrameRGBA(0, data);
  return { width: gif.width, height: gif.height, channels: 4, data };
}

/** Area-average downscale of the plan's source region to RGBA, weighting colour by alpha. */
function resize(src: Raster, spec: ThumbnailSpec): { width: number; height: number; data: Uint8Array } {
  const p = planResize(src.width, src.height, spec);
  const out = new Uint8Array(p.width * p.height * 4);
  const ch = src.channels;
  for (let y = 0; y < p.height; y++) {
    const y0 = p.sy + Math.floor((y * p.sh) / p.height);
    const y1 = Math.max(y0 + 1, p.sy + Math.floor(((y + 1) * p.sh) / p.height));
    for (let x = 0; x < p.width; x++) {
      const x0 = p.sx + Math.floor((x * p.sw) / p.width);
      const x1 = Math.max(x0 + 1, p.sx + Math.floor(((x + 1) * p.sw) / p.width));
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      let count = 0;
      for (let yy = y0; yy < y1; yy++) {
        let i = (yy * src.width + x0) * ch;
        for (let xx = x0; xx < x1; xx++, i += ch) {
          const alpha = ch === 4 ? (src.data[i + 3] as number) : 255;
          r += (src.data[i] as number) * alpha;
          g += (src.data[i + 1] as number) * alpha;
          b += (src.data[i + 2] as number) * alpha;
          a += alpha;
          count++;
        }
      }
      const o = (y * p.width + x) * 4;
      out[o] = a === 0 ? 0 : Math.round(r / a);
      out[o + 1] = a === 0 ? 0 : Math.round(g / a);
      out[o + 2] = a === 0 ? 0 : Math.round(b / a);
      out[o + 3] = Math.round(a / count);
    }
  }
  return { width: p.width, height: p.height, data: out };
}

export interface Thumbnail {
  contentType: "image/jpeg" | "image/png";
  width: number;
  height: number;
  bytes: Uint8Array;
}

/** A thumbnail of `bytes` (an image of `contentType`) per `spec`: JPEG for JPEG sources, else PNG. */
export function makeThumbnail(bytes: Uint8Array, contentType: string, spec: ThumbnailSpec): Thumbnail {
  const type = mediaTypeEssence(contentType);
  if (!canThumbnail(type)) throw new ThumbnailError("unsupported", `cannot thumbnail ${type}`);
  let src: Raster;
  try {
    src = type === "image/png" ? pngRaster(bytes) : type === "image/gif" ? gifRaster(bytes) : jpegRaster(bytes);
  } catch (err) {
    if (err instanceof ThumbnailError) throw err;
    throw new ThumbnailError("corrupt", `not a readable ${type} image: ${err instanceof Error ? err.message : String(err)}`);
  }
  checkSize(src.width, src.height);
  const small = resize(src, spec);
  if (type === "image/jpeg" || type === "image/jpg") {
    const jpeg = encodeJpeg({ width: small.width, height: small.height, data: small.data }, 80);
    return { contentType: "image/jpeg", width: small.width, height: small.height, bytes: new Uint8Array(jpeg.data) };
  }
  const png = encodePng({ width: small.width, height: small.height, data: small.data, channels: 4, depth: 8 });
  return { contentType: "image/png", width: small.width, height: small.height, bytes: png };
}
