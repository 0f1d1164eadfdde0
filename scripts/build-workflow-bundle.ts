// `npm run build:workflows`: bundles the workflow code once, at build time, for production workers.
import { relative } from 'node:path';
import { REPO_ROOT, writeWorkflowBundle } from '../workers/bundle';

writeWorkflowBundle(process.argv[2]).then(
  ({ codePath, sources }) => {
    console.error(`workflow bundle ${relative(REPO_ROOT, codePath)} (${sources} source files)`);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
