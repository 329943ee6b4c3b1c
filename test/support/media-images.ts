// Small test images made in code: left half red, right half blue, so a thumbnail can be checked
// for more than its size.
import { encode as encodeJpeg } from "jpeg-js";
import { encode as encodePng } from "fast-png";
import { GifWriter } from "omggif";

function rgba(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const left = x < width / 2;
      data[o] = left ? 255 : 0;
      data[o + 2] = left ? 0 : 255;
      data[o + 3] = 255;
    }
  }
  return data;
}

export function pngImage(width: number, height: number): Uint8Array {
  return encodePng({ width, height, data: rgba(width, height), channels: 4, depth: 8 });
}

export function jpegImage(width: number, height: number): Uint8Array {
  return new Uint8Array(encodeJpeg({ width, height, data: rgba(width, height) }, 90).data);
}

export function gifImage(width: number, height: number): Uint8Array {
  const buf = new Uint8Array(1024 + width * height * 2);
  const gif = new GifWriter(buf, width, height, { palette: [0xff0000, 0x0000ff] });
  const pixels: number[] = [];
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.push(x < width / 2 ? 0 : 1);
  gif.addFrame(0, 0, width, height, pixels);
  return buf.slice(0, gif.end());
}
