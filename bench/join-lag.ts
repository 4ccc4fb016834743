/**
 * Join lag: the time from the join command being published to a worker's `docker swarm join`.
 *
 * Measured, in real seconds and without any time scaling: N real worker bootstraps (templates/worker/bootstrap.sh,
 * stub docker records the join) long-poll the real token server on 127.0.0.1; the command is published T seconds
 * after every worker's first request; each case runs REPEATS times.
 *
 * Compared with polling schedules (the library's former backoff and the seed's +30 s), which are computed, not
 * slept through: their lag is the wait until the schedule's next poll after T, drawn over many simulated workers
 * from the schedule's own formula, plus the real cost of one poll and join as measured above. Running those
 * schedules for real would take minutes per case; scaling their time down would scale the process overhead too.
 */
import * as fs from "fs";
import { startTokenServer } from "../sandbox/token-server";
import { JOIN_COMMAND, PUBLIC_KEY, cleanupWorkers, makeTempRoot, makeWorker } from "../sandbox/worker";
import { sleep, waitFor } from "../sandbox/wait";

export const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
/** The long poll's length in the benchmark: short, so that T = 5 s crosses two renewals of the request. */
export const BENCH_WAIT_SECONDS = 2;
const SECRET = "b".repeat(64);
const SIMULATED_WORKERS = 10_000;

export interface LagSummary {
  /** Median, 90th percentile and maximum over every worker of every repeat, in seconds. */
  median: number;
  p90: number;
  max: number;
  /** Lowest and highest per-repeat median: how much the figure moves between runs. */
  spread: [number, number];
}

export interface JoinLagResult {
  schedule: string;
  workers: number;
  tokenAtSeconds: number;
  measured: boolean;
  lag: LagSummary;
}

export const SCHEDULES = {
  longPoll: "long poll (library)",
  backoff: "backoff 1 s / 15 s cap, full jitter (library before)",
  seed: "+30 s per attempt, 10 min cap (seed)",
} as const;

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (position - low);
}

function summarize(runs: number[][]): LagSummary {
  const all = runs.flat();
  const medians = runs.map((run) => quantile(run, 0.5));
  return { median: quantile(all, 0.5), p90: quantile(all, 0.9), max: Math.max(...all), spread: [Math.min(...medians), Math.max(...medians)] };
}

/** One real run: lags in seconds of `workerCount` long-polling workers, the token published `tokenAtSeconds` late. */
async function longPollOnce(workerCount: number, tokenAtSeconds: number): Promise<number[]> {
  const expected = Array.from({ length: workerCount }, (_, index) => `worker-${index + 1}`);
  const server = await startTokenServer({ root: makeTempRoot("bench-manager-"), secret: SECRET, expected, ttlSeconds: 3600 });
  try {
    const workers = Array.from({ length: workerCount }, (_, index) =>
      makeWorker({
        tokenServerUrl: server.url,
        secret: SECRET,
        name: `worker-${index + 1}`,
        sourceAddress: `127.0.0.${20 + index}`,
        join: { initialDelaySeconds: 1, maxDelaySeconds: 15, requestTimeoutSeconds: 5, waitSeconds: BENCH_WAIT_SECONDS },
      }),
    );
    const runs = workers.map((worker) => worker.run());
    // T counts from every worker's first request: what comes before (hardening, Docker) is host work, not lag.
    await waitFor(() => countWaiting(workerCount), "every worker's first request", 120_000);
    await sleep(tokenAtSeconds * 1000);
    const tokenAt = Date.now();
    server.writeValue("token", JOIN_COMMAND);
    server.writeValue("public-key", `${PUBLIC_KEY}\n`);
    await waitFor(() => workers.every((worker) => worker.joins().length > 0), "every worker to join", 120_000);
    await Promise.all(runs.map((run) => run.kill("SIGTERM")));
    return workers.map((worker) => (worker.joins()[0].at - tokenAt) / 1000);
  } finally {
    await server.stop();
    await cleanupWorkers();
  }
}

/** True once `count` curl processes are long-polling /token (the request is in flight at the server). */
function countWaiting(count: number): boolean {
  let waiting = 0;
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`/token?wait=${BENCH_WAIT_SECONDS}`)) waiting++;
    } catch {
      // exited meanwhile
    }
  }
  return waiting >= count;
}

/** Poll times (s after the first poll) of one simulated worker, until past `horizon`. */
function pollTimes(schedule: "backoff" | "seed", horizon: number): number[] {
  const times = [0];
  for (let attempt = 1; times[times.length - 1] <= horizon; attempt++) {
    const delay = schedule === "backoff" ? Math.random() * Math.min(15, 1 * 2 ** (attempt - 1)) : Math.min(30 * attempt, 600);
    times.push(times[times.length - 1] + delay);
  }
  return times;
}

export function simulate(schedule: "backoff" | "seed", tokenAtSeconds: number, overheads: number[]): LagSummary {
  const runs = Array.from({ length: REPEATS }, () =>
    Array.from({ length: SIMULATED_WORKERS }, (_, index) => {
      // Published at a random moment of the second after T, as a real publication never lines up with a poll; as in
      // the measured case, the worker has asked at least once before.
      const publishedAt = tokenAtSeconds + Math.random();
      const next = pollTimes(schedule, publishedAt).find((time) => time > publishedAt)!;
      return next - publishedAt + overheads[index % overheads.length];
    }),
  );
  return summarize(runs);
}

export async function measureJoinLag(print: (line: string) => void): Promise<JoinLagResult[]> {
  const results: JoinLagResult[] = [];
  const show = (result: JoinLagResult) => {
    const { median, p90, max, spread } = result.lag;
    print(
      `${result.schedule.padEnd(52)} N=${String(result.workers).padEnd(2)} T=${String(result.tokenAtSeconds).padEnd(3)}s: ` +
        `median ${median.toFixed(2)} s, p90 ${p90.toFixed(2)} s, max ${max.toFixed(2)} s (repeat medians ${spread[0].toFixed(2)}-${spread[1].toFixed(2)})`,
    );
    results.push(result);
  };
  const overheads: number[] = [];
  for (const workers of [1, 3, 10]) {
    for (const tokenAtSeconds of [0, 5]) {
      const runs: number[][] = [];
      for (let repeat = 0; repeat < REPEATS; repeat++) runs.push(await longPollOnce(workers, tokenAtSeconds));
      if (tokenAtSeconds === 0) overheads.push(...runs.flat());
      show({ schedule: SCHEDULES.longPoll, workers, tokenAtSeconds, measured: true, lag: summarize(runs) });
    }
  }
  // A polling schedule's lag does not depend on N (workers poll independently); T does.
  for (const tokenAtSeconds of [0, 90, 240]) {
    for (const schedule of ["backoff", "seed"] as const) {
      show({ schedule: SCHEDULES[schedule], workers: 1, tokenAtSeconds, measured: false, lag: simulate(schedule, tokenAtSeconds, overheads) });
    }
  }
  return results;
}
