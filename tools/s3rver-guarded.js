// Runs the s3rver S3 emulator (tools/node_modules/s3rver, pinned) for as long as the process named in
// COLDSTORE_PARENT_PID lives, and no longer: a test host that is killed outright never gets to stop its
// emulator, and an emulator left running outlives the run, its clone and its data directory.
// Usage: node --openssl-legacy-provider tools/s3rver-guarded.js <s3rver's own arguments>
'use strict';
const path = require('path');

const parent = Number.parseInt(process.env.COLDSTORE_PARENT_PID || '', 10);
if (Number.isInteger(parent) && parent > 0) {
  const watch = setInterval(() => {
    try {
      process.kill(parent, 0); // signal 0: only asks whether the process exists
    } catch (error) {
      if (error.code === 'ESRCH') {
        process.exit(0);
      }
    }
  }, 500);
  watch.unref(); // the watch alone must not keep node alive
}

require(path.join(__dirname, 'node_modules', 's3rver', 'bin', 's3rver.js'));
