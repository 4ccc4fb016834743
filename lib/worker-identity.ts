/**
 * How the manager learns which workers may join, and how a worker proves it is one of them (issue 18).
 * - The manager instance carries a freeform tag WORKERS_TAG_KEY = "<namePrefix>:<count>,..." that Terraform updates
 *   in place when a count changes (the manager's user_data never changes). The manager's reconciler reads it from
 *   the instance metadata service and names the workers from it: <namePrefix>-1 .. <namePrefix>-<count>.
 * - Each worker's user_data holds only its own credential, sha256("<token server secret>:<name>"), which the token
 *   server recomputes: a worker cannot pose as another, and the manager stores no per-worker secret.
 */
import { Fn, Token } from "cdktf";

export const WORKERS_TAG_KEY = "dokploy-oci-workers";
/** OCI's limit for a freeform tag value. */
export const TAG_VALUE_MAX_LENGTH = 256;
/** IMDS v2: all of the instance's information, freeform tags included (header `Authorization: Bearer Oracle`). */
export const INSTANCE_METADATA_URL = "http://169.254.169.254/opc/v2/instance/";
/** The most workers one pool may have (its count in the tag has at most this many digits). */
export const MAX_POOL_WORKERS = 100;

export interface WorkerPoolEntry {
  readonly namePrefix: string;
  /** A number or a Terraform number (an ORM variable). */
  readonly count: number | string;
}

/** The credential worker `name` presents to the token server (a Terraform expression: the secret is only known there). */
export function workerCredential(secret: string, name: string): string {
  return Fn.sha256(Fn.format("%s:%s", [secret, name]));
}

/**
 * The workers tag's value for these pools: "worker:3,gpu:1"; a Terraform expression when a count is. Throws when the
 * longest value it can take would pass OCI's limit (too many pools).
 */
export function workersTagValue(pools: ReadonlyArray<WorkerPoolEntry>): string {
  const longest = pools.reduce((sum, pool) => sum + pool.namePrefix.length + 1 + String(MAX_POOL_WORKERS).length, 0) + Math.max(pools.length - 1, 0);
  if (longest > TAG_VALUE_MAX_LENGTH) {
    throw new Error(
      `addWorkerPool: ${pools.length} worker pools (${pools.map((pool) => pool.namePrefix).join(", ")}) do not fit the manager's ` +
        `${WORKERS_TAG_KEY} tag (${TAG_VALUE_MAX_LENGTH} characters); use fewer pools or shorter namePrefix values`,
    );
  }
  if (pools.every((pool) => !Token.isUnresolved(pool.count))) return pools.map((pool) => `${pool.namePrefix}:${pool.count}`).join(",");
  return Fn.join(",", pools.map((pool) => Fn.format("%s:%d", [pool.namePrefix, Token.asNumber(pool.count)])));
}
