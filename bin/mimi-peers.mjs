// The CLI's MIMI peer commands: which client-certificate fingerprint authenticates which provider
// domain (the hub's mimi_peers table, admin API /mimi/peers). See SECURITY.md "MIMI provider
// authentication" for how the table is used.

const FINGERPRINT_HELP = `The fingerprint is the SHA-256 of the provider's TLS client certificate (DER), as 64 hex
digits; colons and upper case are accepted, e.g. the output of
  openssl x509 -in peer.pem -noout -fingerprint -sha256`;

/** Commands for bin/switchboard.mjs; `h` holds its helpers (admin request, output). */
export function mimiPeerCommands(h) {
  return {
    "mimi-peers": {
      args: "",
      summary: "list the MIMI providers this server accepts, by certificate",
      help: `Lists the mimi_peers table: each client-certificate fingerprint and the MIMI provider domain
it authenticates.`,
      options: {},
      positionals: [],
      run: async (ctx) => {
        const data = await h.adminCall(ctx, "GET", "/mimi/peers");
        if (ctx.options.json) return h.printJson(data);
        if (data.peers.length === 0) return h.out(`No MIMI peers on ${ctx.url.origin}.`);
        h.out(h.table(["domain", "fingerprint", "added"], data.peers.map((p) => [p.domain, p.fingerprint, h.when(p.added_ts)])));
      },
    },
    "mimi-peer-add": {
      args: "<fingerprint> <domain>",
      summary: "accept a MIMI provider's client certificate",
      help: `Maps a client-certificate fingerprint to the MIMI provider domain it authenticates. A provider
may have several certificates (add each); adding a known fingerprint re-points it.

${FINGERPRINT_HELP}`,
      options: {},
      positionals: ["fingerprint", "domain"],
      run: async (ctx, fingerprint, domain) => {
        const data = await h.adminCall(ctx, "PUT", `/mimi/peers/${encodeURIComponent(fingerprint)}`, { domain });
        if (ctx.options.json) return h.printJson(data);
        h.out(`MIMI peer ${data.domain} accepted by certificate ${data.fingerprint}`);
      },
    },
    "mimi-peer-remove": {
      args: "<fingerprint>",
      summary: "stop accepting a MIMI provider's client certificate",
      help: `Removes a fingerprint from the mimi_peers table; requests presenting that certificate are
refused from then on.

${FINGERPRINT_HELP}`,
      options: {},
      positionals: ["fingerprint"],
      run: async (ctx, fingerprint) => {
        const data = await h.adminCall(ctx, "DELETE", `/mimi/peers/${encodeURIComponent(fingerprint)}`);
        if (ctx.options.json) return h.printJson(data);
        h.out(`Removed MIMI peer certificate ${data.removed}`);
      },
    },
  };
}
