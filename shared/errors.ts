// The one error type of the project. Every failure that reaches a caller is a MatrixError,
// rendered as JSON {errcode, error, ...extra} with its HTTP status.

export type ErrCode =
  | "M_UNKNOWN"
  | "M_FORBIDDEN"
  | "M_NOT_JSON"
  | "M_BAD_JSON"
  | "M_NOT_FOUND"
  | "M_LIMIT_EXCEEDED"
  | "M_TOO_LARGE"
  | "M_UNRECOGNIZED"
  | "M_BAD_STATE"
  | "M_WRONG_SERVER"
  | "M_INCOMPATIBLE_ROOM_VERSION"
  | "M_UNABLE_TO_AUTHORISE_JOIN"
  | "M_UNABLE_TO_GRANT_JOIN"
  | "M_UNSUPPORTED_ROOM_VERSION"
  | "M_MISSING_TOKEN"
  | "M_UNKNOWN_TOKEN"
  | "M_USER_IN_USE"
  | "M_INVALID_USERNAME"
  | "M_INVALID_PARAM"
  | "M_MISSING_PARAM"
  | "M_ROOM_IN_USE"
  | "M_INVALID_ROOM_STATE"
  | "M_UNAUTHORIZED"
  | "M_USER_DEACTIVATED"
  | "M_EXCLUSIVE"
  | "M_GUEST_ACCESS_FORBIDDEN"
  | "M_INVALID_SIGNATURE"
  | "M_UNKNOWN_POS"
  | "M_NOT_YET_UPLOADED"
  | "M_CANNOT_OVERWRITE_MEDIA"

  | "M_WRONG_ROOM_KEYS_VERSION";

export class MatrixError extends Error {
  readonly errcode: ErrCode;
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(status: number, errcode: ErrCode, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = "MatrixError";
    this.status = status;
    this.errcode = errcode;
    this.extra = extra;
  }

  toJSON(): Record<string, unknown> {
    return { ...this.extra, errcode: this.errcode, error: this.message };
  }
}

export const badJson = (message: string): MatrixError => new MatrixError(400, "M_BAD_JSON", message);
export const notJson = (message: string): MatrixError => new MatrixError(400, "M_NOT_JSON", message);
export const forbidden = (message: string): MatrixError => new MatrixError(403, "M_FORBIDDEN", message);
export const notFound = (message: string): MatrixError => new MatrixError(404, "M_NOT_FOUND", message);
export const tooLarge = (message: string): MatrixError => new MatrixError(413, "M_TOO_LARGE", message);
export const invalidParam = (message: string): MatrixError => new MatrixError(400, "M_INVALID_PARAM", message);
export const unrecognized = (message = "Unrecognized request"): MatrixError =>
  new MatrixError(404, "M_UNRECOGNIZED", message);
export const limitExceeded = (retryAfterMs: number): MatrixError =>
  new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: Math.max(0, Math.ceil(retryAfterMs)) });

/** Maps anything thrown to a MatrixError; unknown failures become 500 M_UNKNOWN without leaking internals. */
export function toMatrixError(err: unknown): MatrixError {
  if (err instanceof MatrixError) return err;
  // Errors that crossed a Durable Object RPC boundary lose their class but keep own properties we attach.
  if (typeof err === "object" && err !== null) {
    const e = err as { errcode?: unknown; status?: unknown; message?: unknown; extra?: unknown };
    // Only 4xx/5xx statuses: anything else (NaN, 0, 200, 1000) would make rendering the error throw or lie.
    const status = e.status;
    const errorStatus = typeof status === "number" && Number.isInteger(status) && status >= 400 && status <= 599;
    if (typeof e.errcode === "string" && e.errcode.startsWith("M_") && errorStatus) {
      const extra = typeof e.extra === "object" && e.extra !== null ? (e.extra as Record<string, unknown>) : {};
      return new MatrixError(status, e.errcode as ErrCode, typeof e.message === "string" ? e.message : "", extra);
    }
  }
  return new MatrixError(500, "M_UNKNOWN", "Internal server error");
}
