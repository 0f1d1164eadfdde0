#!/usr/bin/env node
// The llama-nas command line: TypeScript sources run through tsx, so a fresh clone needs no build step.
require('tsx/cjs');
require('../cli/main.ts')
  .main(process.argv)
  .catch((err) => {
    const message = err && err.message ? err.message : String(err);
    process.stderr.write(`llama-nas: ${message}\n`);
    process.exit(typeof err?.exitCode === 'number' ? err.exitCode : 1);
  });
