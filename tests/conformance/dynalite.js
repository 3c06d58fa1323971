// SPDX-License-Identifier: Apache-2.0
// Starts dynalite (from tests/node_modules, pinned in tests/package.json) in memory on
// 127.0.0.1:PORT for the kv conformance suite: `node dynalite.js PORT`. Runs on Node 18 and later.
'use strict';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: node dynalite.js PORT');
  process.exit(2);
}
let dynalite;
try {
  dynalite = require('dynalite');
} catch (e) {
  console.error('dynalite is not installed in tests/node_modules: run scripts/deps.sh --test');
  process.exit(3);
}
// Tables become ACTIVE at once; everything stays in memory and ends with the process.
const server = dynalite({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0});
server.on('error', (e) => {
  console.error('dynalite: ' + e.message);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log('dynalite ' + require('dynalite/package.json').version + ' on 127.0.0.1:' + port);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
