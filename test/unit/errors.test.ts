import { describe, expect, it } from "vitest";
import {
  MatrixError,
  badJson,
  forbidden,
  invalidParam,
  limitExceeded,
  notFound,
  notJson,
  toMatrixError,
  tooLarge,
  unrecognized,
} from "../../shared/errors.js";

describe("MatrixError", () => {
  it("is an Error carrying status, errcode and message", () => {
    const e = new MatrixError(403, "M_FORBIDDEN", "You are not invited");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("MatrixError");
    expect(e.status).toBe(403);
    expect(e.errcode).toBe("M_FORBIDDEN");
    expect(e.message).toBe("You are not invited");
  });

  it("toJSON gives exactly {errcode, error} without extra fields", () => {
    const e = new MatrixError(404, "M_NOT_FOUND", "No such room");
    expect(e.toJSON()).toEqual({ errcode: "M_NOT_FOUND", error: "No such room" });
    expect(JSON.parse(JSON.stringify(e))).toEqual({ errcode: "M_NOT_FOUND", error: "No such room" });
  });

  it("toJSON includes extra fields, which cannot override errcode or error", () => {
    const e = new MatrixError(400, "M_BAD_STATE", "Busy", { retry: 1, errcode: "M_FAKE", error: "fake" });
    expect(e.toJSON()).toEqual({ retry: 1, errcode: "M_BAD_STATE", error: "Busy" });
  });

  it("toJSON leaves out the stack and the status", () => {
    const json = new MatrixError(500, "M_UNKNOWN", "x").toJSON();
    expect(Object.keys(json).sort()).toEqual(["errcode", "error"]);
  });
});

describe("error helpers", () => {
  const cases: Array<[string, MatrixError, number, string]> = [
    ["badJson", badJson("m"), 400, "M_BAD_JSON"],
    ["notJson", notJson("m"), 400, "M_NOT_JSON"],
    ["forbidden", forbidden("m"), 403, "M_FORBIDDEN"],
    ["notFound", notFound("m"), 404, "M_NOT_FOUND"],
    ["tooLarge", tooLarge("m"), 413, "M_TOO_LARGE"],
    ["invalidParam", invalidParam("m"), 400, "M_INVALID_PARAM"],
    ["unrecognized", unrecognized(), 404, "M_UNRECOGNIZED"],
  ];
  for (const [name, e, status, errcode] of cases) {
    it(`${name} gives ${status} ${errcode}`, () => {
      expect([e.status, e.errcode]).toEqual([status, errcode]);
      expect(e.message.length).toBeGreaterThan(0);
    });
  }

  it("limitExceeded gives 429 with a whole, non-negative retry_after_ms", () => {
    expect(limitExceeded(1500.2).toJSON()).toEqual({ errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: 1501 });
    expect(limitExceeded(-5).extra).toEqual({ retry_after_ms: 0 });
    expect(limitExceeded(10).status).toBe(429);
  });
});

describe("toMatrixError", () => {
  it("passes a MatrixError through unchanged", () => {
    const e = new MatrixError(403, "M_FORBIDDEN", "no");
    expect(toMatrixError(e)).toBe(e);
  });

  it("rebuilds a plain object carrying errcode and status, as after an RPC boundary", () => {
    const crossed = { errcode: "M_FORBIDDEN", status: 403, message: "Not a member", extra: { room: "!a:b" } };
    const e = toMatrixError(crossed);
    expect(e).toBeInstanceOf(MatrixError);
    expect([e.status, e.errcode, e.message]).toEqual([403, "M_FORBIDDEN", "Not a member"]);
    expect(e.toJSON()).toEqual({ room: "!a:b", errcode: "M_FORBIDDEN", error: "Not a member" });
  });

  it("rebuilds a structured clone of a MatrixError", () => {
    const original = new MatrixError(429, "M_LIMIT_EXCEEDED", "slow down", { retry_after_ms: 10 });
    const clone = { ...original, message: original.message } as unknown;
    expect(clone).not.toBeInstanceOf(MatrixError);
    const e = toMatrixError(clone);
    expect([e.status, e.errcode, e.message, e.extra]).toEqual([429, "M_LIMIT_EXCEEDED", "slow down", { retry_after_ms: 10 }]);
  });

  it("rebuilds a plain Error that carries errcode and status properties", () => {
    const err = Object.assign(new Error("gone"), { errcode: "M_NOT_FOUND", status: 404 });
    const e = toMatrixError(err);
    expect([e.status, e.errcode, e.message]).toEqual([404, "M_NOT_FOUND", "gone"]);
    expect(e.extra).toEqual({});
  });

  it("maps an ordinary Error to 500 M_UNKNOWN without its internal message", () => {
    const e = toMatrixError(new Error("D1_ERROR: no such table: events (password=hunter2)"));
    expect([e.status, e.errcode]).toEqual([500, "M_UNKNOWN"]);
    const body = JSON.stringify(e.toJSON());
    expect(body).not.toContain("D1_ERROR");
    expect(body).not.toContain("hunter2");
    expect(e.toJSON()).toEqual({ errcode: "M_UNKNOWN", error: "Internal server error" });
  });

  const notMatrix: Array<[string, unknown]> = [
    ["a string", "M_FORBIDDEN"],
    ["a number", 403],
    ["null", null],
    ["undefined", undefined],
    ["a TypeError", new TypeError("x is undefined")],
    ["an errcode without the M_ prefix", { errcode: "FORBIDDEN", status: 403, message: "secret detail" }],
    ["a status given as a string", { errcode: "M_FORBIDDEN", status: "403", message: "secret detail" }],
    ["a missing status", { errcode: "M_FORBIDDEN", message: "secret detail" }],
    ["a NaN status", { errcode: "M_FORBIDDEN", status: NaN, message: "secret detail" }],
    ["a success status", { errcode: "M_FORBIDDEN", status: 200, message: "secret detail" }],
    ["a status out of HTTP range", { errcode: "M_FORBIDDEN", status: 1000, message: "secret detail" }],
    ["a fractional status", { errcode: "M_FORBIDDEN", status: 403.5, message: "secret detail" }],
  ];
  for (const [name, value] of notMatrix) {
    it(`maps ${name} to 500 M_UNKNOWN with no internal detail`, () => {
      const e = toMatrixError(value);
      expect(e).toBeInstanceOf(MatrixError);
      expect(e.toJSON()).toEqual({ errcode: "M_UNKNOWN", error: "Internal server error" });
      expect(e.status).toBe(500);
    });
  }

  it("always yields a status a Response accepts", () => {
    for (const value of [{ errcode: "M_X", status: 0 }, { errcode: "M_X", status: -1 }, { errcode: "M_X", status: Infinity }]) {
      const status = toMatrixError(value).status;
      expect(() => new Response("{}", { status })).not.toThrow();
    }
  });
});
