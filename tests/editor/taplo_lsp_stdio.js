// Serve the @taplo/lsp language server (the wasm build Even Better TOML uses in the
// browser) over stdin/stdout with LSP's Content-Length framing, for the tests.
// Usage: NODE_PATH=<prefix>/node_modules node taplo_lsp_stdio.js
"use strict";
const fs = require("node:fs");
const fsp = require("node:fs/promises");
const path = require("node:path");
const { TaploLsp } = require("@taplo/lsp");

function writeMessage(message) {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  process.stdout.write(`Content-Length: ${body.length}\r\n\r\n`);
  process.stdout.write(body);
}

const env = {
  cwd: () => process.cwd(),
  envVar: (name) => process.env[name],
  envVars: () => Object.entries(process.env),
  findConfigFile: (from) => {
    for (const name of [".taplo.toml", "taplo.toml"]) {
      const p = path.join(from, name);
      if (fs.existsSync(p)) return p;
    }
    return undefined;
  },
  glob: () => [],
  isAbsolute: (p) => path.isAbsolute(p),
  now: () => new Date(),
  readFile: (p) => fsp.readFile(p),
  writeFile: (p, bytes) => fsp.writeFile(p, bytes),
  stderr: async (bytes) => { process.stderr.write(bytes); return bytes.length; },
  stdErrAtty: () => false,
  stdin: process.stdin,
  stdout: async (bytes) => { process.stderr.write(bytes); return bytes.length; },
  urlToFilePath: (url) => decodeURIComponent(url.slice("file://".length)),
};

// No network: the tests must not depend on (or wait for) the schemastore.org catalog.
// Local schemas are read through env.readFile, never through fetch.
globalThis.fetch = async (url) => {
  throw new TypeError(`network disabled in the test server (${url})`);
};

async function main() {
  const lsp = await TaploLsp.initialize(env, { onMessage: writeMessage });
  let buffer = Buffer.alloc(0);
  process.stdin.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const header = buffer.subarray(0, end).toString("ascii");
      const m = /content-length:\s*(\d+)/i.exec(header);
      const length = m ? Number(m[1]) : 0;
      if (buffer.length < end + 4 + length) return;
      const body = buffer.subarray(end + 4, end + 4 + length).toString("utf8");
      buffer = buffer.subarray(end + 4 + length);
      const message = JSON.parse(body);
      lsp.send(message);
      if (message.method === "exit") process.exit(0);
    }
  });
  process.stdin.on("end", () => process.exit(0));
}

main().catch((e) => { console.error(e); process.exit(1); });
