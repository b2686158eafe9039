// A process that owns an embedded server, for the no-orphan tests: it starts one (ephemeral), prints
// {"uri","pid","dataDir","kind"} as one JSON line, then waits to be killed, or with argv "crash" dies of an
// uncaught exception. Plain CommonJS that compiles src/ on the fly with SWC, so no build is needed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const swc = require('@swc/core');

require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};

const { startEmbeddedMongo } = require(path.join(__dirname, '..', '..', 'src', 'db', 'embedded.ts'));

startEmbeddedMongo({ dataDir: 'unused', ephemeral: true }).then(
  (mongo) => {
    process.stdout.write(`${JSON.stringify({ uri: mongo.uri, pid: mongo.pid, dataDir: mongo.dataDir, kind: mongo.kind })}\n`);
    if (process.argv[2] === 'crash') setTimeout(() => { throw new Error('crash on purpose'); }, 50);
    else setInterval(() => {}, 60_000);
  },
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  },
);
