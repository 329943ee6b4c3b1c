// Unpadded base64 (draft -04 "Unpadded Base64"). Decoders accept padded input too, as the draft asks.

import { base64nopad, base64urlnopad } from "@scure/base";

export function encodeBase64(bytes: Uint8Array): string {
  return base64nopad.encode(bytes);
}

export function encodeBase64Url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/** Padded input must be complete: a multiple of four characters ending in at most two "=". */
function stripPadding(s: string): string {
  if (!s.endsWith("=")) return s;
  if (s.length % 4 !== 0) throw new Error("Invalid base64 padding");
  let end = s.length;
  while (end > s.length - 2 && s.charCodeAt(end - 1) === 61 /* = */) end--;
  return s.slice(0, end);
}

const STD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Zeroes the unused low bits of the last character. Other implementations ignore those bits (the
 * specification's own test seed "...XA1" sets them), while @scure/base rejects them.
 */
function clearTrailingBits(s: string, alphabet: string): string {
  const rem = s.length % 4;
  if (rem < 2) return s;
  const index = alphabet.indexOf(s.charAt(s.length - 1));
  if (index < 0) return s; // the decoder reports the bad character
  return s.slice(0, -1) + alphabet.charAt(index & (rem === 2 ? 0b110000 : 0b111100));
}

/** Throws on anything that is not base64 in the standard alphabet. */
export function decodeBase64(s: string): Uint8Array {
  return base64nopad.decode(clearTrailingBits(stripPadding(s), STD_ALPHABET));
}

export function decodeBase64Url(s: string): Uint8Array {
  return base64urlnopad.decode(clearTrailingBits(stripPadding(s), URL_ALPHABET));
}

/** Returns undefined instead of throwing, for checks on untrusted input. */
export function tryDecodeBase64(s: unknown): Uint8Array | undefined {
  if (typeof s !== "string") return undefined;
  try {
    return decodeBase64(s);
  } catch {
    return undefined;
  }
}
