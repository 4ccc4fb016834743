/**
 * Join lag on the bootstrap harness: N workers start polling the real token server; the join command becomes
 * available T seconds later; each worker's lag is the time from then to its `docker swarm join` (stub docker
 * records it). Time is scaled down by SCALE for both schedules alike; results are in real seconds.
 */
import * as fs from "fs";
import * as path from "path";
import { startTokenServer } from "../__tests__/harness/token-server";
import { JOIN_COMMAND, PUBLIC_KEY, cleanupWorkers, hostEnv, makeTempRoot, makeWorker, start } from "../__tests__/harness/worker";
import { sleep, waitFor } from "../__tests__/harness/wait";

// Each poll's real cost (curl, python) is multiplied by the scale too, so keep it modest.
export const SCALE = Number(process.env.BENCH_SCALE ?? 10);
const SECRET = "b".repeat(64);

export const SCHEDULES = {
  library: { name: "library", description: "capped exponential backoff with full jitter (1 s initial, 15 s cap)" },
  seed: { name: "seed", description: "+30 s per attempt, capped at 10 minutes" },
} as const;

export interface JoinLagResult {
  schedule: string;
  workers: number;
  tokenAtSeconds: number;
  medianLagSeconds: number;
  maxLagSeconds: number;
  scale: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function runOnce(schedule: keyof typeof SCHEDULES, workerCount: number, tokenAtSeconds: number): Promise<JoinLagResult> {
  const managerRoot = makeTempRoot("bench-manager-");
  const server = await startTokenServer({ root: managerRoot, secret: SECRET, expectedWorkers: 1000, ttlSeconds: 3600 });
  try {
    const workers = Array.from({ length: workerCount }, (_, index) =>
      makeWorker({
        tokenServerUrl: server.url,
        secret: SECRET,
        name: `worker-${index + 1}`,
        sourceAddress: `127.0.0.${20 + index}`,
        join: { initialDelaySeconds: 1 / SCALE, maxDelaySeconds: 15 / SCALE, requestTimeoutSeconds: 5 },
      }),
    );
    const runs = workers.map((worker) => {
      if (schedule === "library") return worker.run();
      const header = path.join(worker.root, "tmp", "auth-header");
      fs.writeFileSync(header, `Authorization: Bearer ${SECRET}\n`, { mode: 0o600 });
      return start("bash", [path.join(__dirname, "seed-poller.sh"), server.url, header, String(SCALE), `127.0.0.${20 + workers.indexOf(worker)}`], hostEnv(worker.root));
    });
    // T counts from when every worker polls: the library's worker first hardens the host and checks Docker, real
    // work that takes minutes on a node and would be inflated by the scale here, and the seed's poller has none.
    const polled = (index: number) => server.logs().includes(`127.0.0.${20 + index} - - `);
    await waitFor(() => workers.every((_, index) => polled(index)), "every worker's first poll", 120_000);
    await sleep((tokenAtSeconds * 1000) / SCALE);
    const tokenAt = Date.now();
    server.writeValue("token", JOIN_COMMAND);
    server.writeValue("public-key", `${PUBLIC_KEY}\n`);
    // The seed's schedule may wait up to 10 minutes between polls: allow for that, scaled.
    await waitFor(() => workers.every((worker) => worker.joins().length > 0), "every worker to join", ((600 + 60) * 1000) / SCALE + 30_000);
    await Promise.all(runs.map((run) => run.kill("SIGTERM")));
    const lags = workers.map((worker) => ((worker.joins()[0].at - tokenAt) / 1000) * SCALE);
    return {
      schedule: SCHEDULES[schedule].name,
      workers: workerCount,
      tokenAtSeconds,
      medianLagSeconds: median(lags),
      maxLagSeconds: Math.max(...lags),
      scale: SCALE,
    };
  } finally {
    await server.stop();
    await cleanupWorkers();
  }
}

export async function measureJoinLag(print: (line: string) => void): Promise<JoinLagResult[]> {
  const results: JoinLagResult[] = [];
  for (const workers of [3, 10]) {
    for (const tokenAtSeconds of [0, 90, 240]) {
      for (const schedule of ["library", "seed"] as const) {
        const result = await runOnce(schedule, workers, tokenAtSeconds);
        print(`${schedule.padEnd(7)} N=${String(workers).padEnd(2)} T=${String(tokenAtSeconds).padEnd(3)}s: median ${result.medianLagSeconds.toFixed(1)} s, max ${result.maxLagSeconds.toFixed(1)} s`);
        results.push(result);
      }
    }
  }
  return results;
}
