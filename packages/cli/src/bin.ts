#!/usr/bin/env node
import { main } from './index.js';

main(process.argv).then(
  (code) => process.exit(code),
  () => process.exit(1),
);
