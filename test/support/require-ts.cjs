// Lets Node's own `require` load src/'s TypeScript, for what runs outside Jest's module system: the global
// set-up (Jest compiles it through a require hook, without moduleNameMapper) and test/support/embedded-child.cjs.
// An import of `./x.js` (NodeNext style) resolves to `./x.ts` when only that exists; where no hook compiles .ts
// files yet, SWC does.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');

const installed = Symbol.for('reservations.require-ts');
if (!Module[installed]) {
  Module[installed] = true;
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function resolveTs(request, parent, ...rest) {
    try {
      return resolve.call(this, request, parent, ...rest);
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND' || !/^\.\.?\/.*\.js$/.test(request)) throw err;
      return resolve.call(this, `${request.slice(0, -3)}.ts`, parent, ...rest);
    }
  };
  if (!require.extensions['.ts']) {
    const swc = require('@swc/core');
    require.extensions['.ts'] = (module, filename) => {
      const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
        filename,
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
      });
      module._compile(code, filename);
    };
  }
}
