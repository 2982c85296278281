#!/usr/bin/env node
// Makes the npm `solc` package (the official compiler built to JavaScript) answer like
// a native solc binary for the two calls py-solc-x makes: `--version` and
// `--standard-json` (input JSON on stdin, output JSON on stdout).
'use strict';
const fs = require('fs');
const path = require('path');

function loadSolc() {
  const roots = [process.env.THINGBID_NODE_MODULES, path.join(__dirname, '..', '..', 'node_modules'), process.cwd()];
  for (const root of roots) {
    if (!root) continue;
    try { return require(require.resolve('solc', { paths: [root] })); } catch (e) { /* try next */ }
  }
  process.stderr.write('solc-js-wrapper: npm package "solc" not found; run ./scripts/setup\n');
  process.exit(2);
}

const args = process.argv.slice(2);
const solc = loadSolc();
if (args.includes('--version')) {
  const v = solc.version(); // e.g. 0.8.28+commit.7893614a.Emscripten.clang
  process.stdout.write('solc, the solidity compiler commandline interface\nVersion: ' + v + '\n');
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solc-js-wrapper: only --version and --standard-json are supported\n');
  process.exit(2);
}
let basePath = process.cwd();
const bi = args.indexOf('--base-path');
if (bi >= 0 && args[bi + 1]) basePath = args[bi + 1];

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8');
  const findImports = (p) => {
    const full = path.resolve(basePath, p);
    if (!full.startsWith(path.resolve(basePath))) return { error: 'import outside base path: ' + p };
    try { return { contents: fs.readFileSync(full, 'utf8') }; } catch (e) { return { error: 'File not found: ' + p }; }
  };
  process.stdout.write(solc.compile(input, { import: findImports }));
});
