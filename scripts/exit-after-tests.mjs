// Loaded into every test process (`node --import`, scripts/test.sh). In a test file's own process (the runner sets
// NODE_TEST_CONTEXT there, never in the runner itself), it exits a minute after the file's tests and hooks have ended if
// something the tests left open (a server, a timer) still holds the event loop: such a file would otherwise hold the run
// until CI's limit. A file that ends cleanly exits at once (the timer does not hold the loop). Node's own
// --test-force-exit would do it in the runner too, which then exits before its reporters have written their output.
import { after } from 'node:test';

if (process.env.NODE_TEST_CONTEXT) {
  after(() => {
    setTimeout(() => {
      process.stderr.write('exit-after-tests: the tests ended but something they left open held the process; exiting\n');
      process.exit();
    }, 60_000).unref();
  });
}
