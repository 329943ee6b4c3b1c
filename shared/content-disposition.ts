// How served media is labelled (client-server API, "Serving inline content"): content types a
// browser can show without running anything are served `inline`, everything else as `attachment`,
// always with the uploader's filename if there was one, encoded per RFC 6266.

/** The spec's list of content types safe to show inline. */
const SAFE_INLINE_TYPES: ReadonlySet<string> = new Set([
  "text/css",
  "text/plain",
  "text/csv",
  "application/json",
  "application/ld+json",
  "image/jpeg",
  "image/gif",
  "image/png",
  "image/apng",
  "image/webp",
  "image/avif",
  "video/mp4",
  "video/webm",
  "video/ogg",
  "video/quicktime",
  "audio/mp4",
  "audio/webm",
  "audio/aac",
  "audio/mpeg",
  "audio/ogg",
  "audio/wave",
  "audio/wav",
  "audio/x-wav",
  "audio/x-pn-wav",
  "audio/flac",
  "audio/x-flac",
]);

/** Restricts what a served file may do if a browser opens it anyway (the spec's recommended policy). */
export const MEDIA_CSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

/** "image/png; charset=x" -> "image/png". */
export function mediaTypeEssence(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

export function isSafeInline(contentType: string): boolean {
  return SAFE_INLINE_TYPES.has(mediaTypeEssence(contentType));
}

const TOKEN_CHAR = /^[A-Za-z0-9!#$&+.^_`|~-]+$/;
const CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}(\s*;[\x20-\x7e]*)?$/;

/** A Content-Type a client may store: `type/subtype` with optional parameters, printable ASCII. */
export function isValidContentType(value: string): boolean {
  return value.length <= 255 && CONTENT_TYPE.test(value);
}

/** A filename a client may store: at most 255 characters, no control characters, no path separators. */
export function isValidFilename(value: string): boolean {
  return value.length > 0 && value.length <= 255 && !/[\u0000-\u001f\u007f/\\]/.test(value);
}

/** RFC 8187 value encoding: UTF-8, percent-encoding everything but attr-chars. */
function extValue(s: string): string {
  return encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The Content-Disposition header for media of `contentType` named `filename` (if any). */
export function contentDisposition(contentType: string, filename: string | null): string {
  const kind = isSafeInline(contentType) ? "inline" : "attachment";
  if (filename === null || filename === "") return kind;
  if (TOKEN_CHAR.test(filename)) return `${kind}; filename=${filename}`;
  if (/^[\x20-\x7e]*$/.test(filename) && !/["\\]/.test(filename)) return `${kind}; filename="${filename}"`;
  return `${kind}; filename*=utf-8''${extValue(filename)}`;
}

/** The filename in a Content-Disposition header (RFC 6266 `filename*` preferred), or null. */
export function filenameOfDisposition(header: string | null): string | null {
  if (header === null) return null;
  const ext = /filename\*\s*=\s*(?:utf-8|UTF-8)''([^;\s]+)/.exec(header);
  if (ext?.[1] !== undefined) {
    try {
      return decodeURIComponent(ext[1]);
    } catch {
      return null;
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/.exec(header);
  if (quoted?.[1] !== undefined) return quoted[1].replace(/\\(.)/g, "$1");
  const token = /filename\s*=\s*([^;\s"]+)/.exec(header);
  return token?.[1] ?? null;
}
