/**
 * A worker's answer time while slow clients press on the token server: the real templates/manager/token-server.py
 * on 127.0.0.1, a worker asking for /token from its own loopback address, alone and beside 500 clients that each
 * trickle a request a byte a second from four other addresses (reconnecting whenever the server cuts them off). The
 * worker's requests are spaced over 12 s, so they meet the slow clients being cut off at their deadline.
 */
import * as http from "http";
import { cleanupWorkers, makeTempRoot } from "../sandbox/worker";
import { startSlowClients, startTokenServer, workerHeaders } from "../sandbox/token-server";
import { sleep, waitFor } from "../sandbox/wait";
import { quantile } from "./join-lag";

export const SLOW_CLIENTS = 500;
const SLOW_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
const WORKER_ADDRESS = "127.0.0.9";
const REQUESTS = Number(process.env.BENCH_SLOW_REQUESTS ?? 100);
// Spaced so the requests span 12 s: past the slow clients' 10 s deadline, their cut-off and reconnection.
const SPACING_MS = 120;
const SECRET = "c".repeat(64);

export interface AnswerTimes {
  load: string;
  /** Median, 90th percentile and maximum over the requests, in milliseconds. */
  median: number;
  p90: number;
  max: number;
  /** Answers other than 200. */
  failures: number;
}

/** Milliseconds until worker-1's GET /token is answered, and its status. */
function timedRequest(url: string): Promise<[number, number]> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/token`, { headers: workerHeaders(SECRET, "worker-1"), localAddress: WORKER_ADDRESS, agent: false }, (response) => {
        response.resume();
        response.on("end", () => resolve([Number(process.hrtime.bigint() - started) / 1e6, response.statusCode!]));
      })
      .on("error", reject);
  });
}

async function answerTimes(url: string, load: string): Promise<AnswerTimes> {
  const times: number[] = [];
  let failures = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const [ms, status] = await timedRequest(url);
    times.push(ms);
    if (status !== 200) failures++;
    await sleep(SPACING_MS);
  }
  return { load, median: quantile(times, 0.5), p90: quantile(times, 0.9), max: Math.max(...times), failures };
}

export async function measureSlowClients(print: (line: string) => void): Promise<AnswerTimes[]> {
  const server = await startTokenServer({ root: makeTempRoot("bench-slow-"), secret: SECRET, expected: ["worker-1"], ttlSeconds: 3600 });
  try {
    server.writeValue("token", "docker swarm join --token SWMTKN-1-x 10.0.0.10:2377\n");
    const rows = [await answerTimes(server.url, "none")];
    const clients = startSlowClients(server.url, { count: SLOW_CLIENTS, sourceAddresses: SLOW_ADDRESSES, byteIntervalMs: 1_000 });
    try {
      await waitFor(() => SLOW_ADDRESSES.every((address) => clients.refused(address) > 0), "every slow address at its limit");
      rows.push(await answerTimes(server.url, `${SLOW_CLIENTS} slow clients`));
    } finally {
      await clients.stop();
    }
    for (const row of rows) {
      print(`worker /token with ${row.load}: median ${row.median.toFixed(1)} ms, p90 ${row.p90.toFixed(1)} ms, max ${row.max.toFixed(1)} ms, ${row.failures} not 200 (of ${REQUESTS})`);
    }
    return rows;
  } finally {
    await server.stop();
    await cleanupWorkers(); // the temp root
  }
}
