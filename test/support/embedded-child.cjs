// A process that owns an embedded server, for the no-orphan tests: it starts one (ephemeral), prints
// {"uri","pid","dataDir","kind"} as one JSON line, then waits to be killed, or with argv "crash" dies of an
// uncaught exception. Plain CommonJS that compiles src/ on the fly with SWC (require-ts.cjs); the guardian it
// runs is the built one (`npm run build`, which `npm test` does first).
'use strict';
require('./require-ts.cjs');
const { startEmbedded } = require('./embedded.ts');

startEmbedded({ dataDir: 'unused', ephemeral: true }).then(
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
