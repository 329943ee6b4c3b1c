// The CLI's setup commands: a signing key for a new hub, and user accounts through the client API.

import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { usageError } from "./cli-errors.mjs";
import { request } from "./cli-http.mjs";
import { fields, out, printJson } from "./cli-output.mjs";

const b64 = (buf) => Buffer.from(buf).toString("base64").replace(/=+$/, "");
// PKCS#8 DER for an Ed25519 private key is this fixed 16-byte prefix followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

async function keygen(ctx) {
  const version = ctx.options.version ?? `a_${randomBytes(3).toString("hex")}`;
  if (!/^[A-Za-z0-9_]+$/.test(version)) throw usageError(`--version may contain only letters, digits and _, got ${JSON.stringify(version)}`, "keygen");
  const seed = randomBytes(32);
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const publicKey = Buffer.from(createPublicKey(privateKey).export({ format: "jwk" }).x, "base64url");
  const secret = `ed25519:${version}:${b64(seed)}`;
  if (ctx.options.json) return printJson({ secret, key_id: `ed25519:${version}`, public_key: b64(publicKey) });
  out(secret);
  process.stderr.write(`public key ed25519:${version} ${b64(publicKey)}\n`);
}

async function register(ctx, username) {
  const generated = ctx.options.password === undefined;
  const password = ctx.options.password ?? randomBytes(12).toString("base64url");
  if (password === "") throw usageError("--password must not be empty", "register");
  const { data } = await request(ctx, "POST", "/_matrix/client/v3/register", {
    body: { username, password, auth: { type: "m.login.dummy" }, initial_device_display_name: "switchboard CLI" },
  });
  if (ctx.options.json) return printJson({ ...data, ...(generated ? { password } : {}) });
  out(`Registered ${data.user_id}`);
  out(
    fields([
      ["device", data.device_id ?? "-"],
      ["access token", data.access_token ?? "-"],
      ...(generated ? [["password", `${password} (generated)`]] : []),
    ]),
  );
}


export const setupCommands = {
  keygen: {
    args: "[--version <v>]",
    summary: "print a new Ed25519 signing key secret for SIGNING_KEY",
    help: `Generates a new Ed25519 signing key. The secret ("ed25519:<version>:<seed>") goes to stdout,
the public key to stderr, so the secret can be piped straight into wrangler:

  switchboard keygen | npx wrangler secret put SIGNING_KEY

Options:
  --version <v>   key version (letters, digits, _); default a_<6 random hex digits>`,
    options: { version: { type: "string" } },
    positionals: [],
    run: keygen,
  },
  register: {
    args: "<username> [--password <p>]",
    summary: "register a user on the hub (client API, m.login.dummy)",
    help: `Registers a local user through the hub's client API and prints the user ID, device ID and
access token. Without --password a random password is generated and printed.

Options:
  --password <p>  the account password`,
    options: { password: { type: "string" } },
    positionals: ["username"],
    run: register,
  },
};
