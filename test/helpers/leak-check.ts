// Loaded before every test file (`--import` in package.json). A test file must leave nothing
// running: no server, socket, timer or child process. Once its tests are done, its process
// should exit by itself; if it is still alive LEAK_GRACE_MS later, something was left open, and
// the file fails, naming what keeps it alive (instead of hanging until the runner gives up).
import { after } from 'node:test';

const LEAK_GRACE_MS = Number(process.env.TEST_LEAK_GRACE_MS ?? 10_000);

// The first root-level `after` hook: it runs once every test of the file has finished, before
// the file's own root-level `after` hooks (those close its servers), which the grace covers.
after(() => {
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap');
    console.error(
      `leak check: the test file was still running ${LEAK_GRACE_MS} ms after its tests finished; ` +
        `left open: ${open.join(', ') || 'nothing listed (a pipe or a child process?)'}`,
    );
    process.exit(1);
  }, LEAK_GRACE_MS).unref();
});
