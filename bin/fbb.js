#!/usr/bin/env node
// The fbb CLI, built into dist/ by "npm run build" (run by npm ci through "prepare").
require('../dist/src/client/cli.js').main();
