/**
 * Waiting in tests: every wait ends as soon as its event happens (a log line, a file, a port), and fails only after
 * a generous outer limit, because CI runs on a 2-core machine that may be busy with other work. A tight limit here
 * makes a test that passes on a quiet machine and fails on a loaded one.
 */
import { ChildProcess } from "child_process";

/** The outer limit of any wait: long enough for a loaded machine, short enough to fail well inside jest's timeout. */
export const WAIT_LIMIT_MS = 60_000;
/**
 * The outer limit of a test that runs a whole chain of host programs one after another (a manager bootstrap, a token
 * server, several worker bootstraps, registration passes): each step still waits for its own event; this only
 * keeps a machine far busier than CI (two CI runs and a benchmark at once) from failing the chain as a whole.
 */
export const CHAIN_TEST_LIMIT_MS = 10 * 60_000;
/** How long a stopped process gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5_000;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = WAIT_LIMIT_MS, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Whether a process with this pid exists (signal 0 is checked, never sent). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
