/**
 * The Always Free allowance as a checked budget: at synth time when every size is known, otherwise at plan time
 * through a lifecycle precondition (Terraform >= 1.2, which ORM runs).
 */
import { Op, Token } from "cdktf";

export interface FreeTierBudget {
  /** @default - 4 (3,000 A1 OCPU-hours a month) */
  readonly ocpus?: number;
  /** @default - 24 (18,000 A1 GB-hours a month) */
  readonly memoryInGbs?: number;
  /** @default - 200 (block storage, boot volumes included) */
  readonly bootVolumeInGbs?: number;
}

export const ALWAYS_FREE_BUDGET: Required<FreeTierBudget> = { ocpus: 4, memoryInGbs: 24, bootVolumeInGbs: 200 };

/** One group of identical nodes that draws on the budget; any number may be a Terraform token. */
export interface BudgetShare {
  /** How the user names it, e.g. "manager" or "workers (pool Workers)". */
  readonly name: string;
  /** The prop that sets its count, for the error message. */
  readonly countProp: string;
  readonly count: number;
  readonly ocpus: number;
  readonly memoryInGbs: number;
  readonly bootVolumeSizeInGbs: number;
}

const DIMENSIONS = [
  { key: "ocpus", unit: "OCPUs", share: (s: BudgetShare) => s.ocpus, prop: "ocpus" },
  { key: "memoryInGbs", unit: "GB of memory", share: (s: BudgetShare) => s.memoryInGbs, prop: "memoryInGbs" },
  { key: "bootVolumeInGbs", unit: "GB of boot volume", share: (s: BudgetShare) => s.bootVolumeSizeInGbs, prop: "bootVolumeSizeInGbs" },
] as const;

function isKnown(share: BudgetShare): boolean {
  return [share.count, share.ocpus, share.memoryInGbs, share.bootVolumeSizeInGbs].every((value) => !Token.isUnresolved(value));
}

/** Throws, listing each group's share, when known sizes exceed the budget; shares with tokens are skipped here. */
export function checkBudget(shares: ReadonlyArray<BudgetShare>, budget: FreeTierBudget = {}): void {
  const limits = { ...ALWAYS_FREE_BUDGET, ...budget };
  if (!shares.every(isKnown)) return;
  const over = DIMENSIONS.filter((dimension) => total(shares, dimension.share) > limits[dimension.key]);
  if (over.length === 0) return;
  const lines = shares.map(
    (share) =>
      `  ${share.name}: ${share.count} x (${share.ocpus} OCPU, ${share.memoryInGbs} GB, ${share.bootVolumeSizeInGbs} GB boot)` +
      ` = ${share.count * share.ocpus} OCPU, ${share.count * share.memoryInGbs} GB, ${share.count * share.bootVolumeSizeInGbs} GB boot`,
  );
  const sums = over.map((dimension) => `${total(shares, dimension.share)} ${dimension.unit} > ${limits[dimension.key]}`);
  throw new Error(
    `the cluster exceeds the Always Free budget: ${sums.join("; ")}.\n${lines.join("\n")}\n` +
      `Lower a pool's count (${shares.map((share) => share.countProp).join(", ")}) or its ${over.map((d) => d.prop).join("/")}, ` +
      "raise the budget prop if your allowance differs, or set alwaysFree: false to run paid resources.",
  );
}

function total(shares: ReadonlyArray<BudgetShare>, of: (share: BudgetShare) => number): number {
  return shares.reduce((sum, share) => sum + share.count * of(share), 0);
}

/** A Terraform precondition enforcing the budget at plan time, for sizes that come from variables. */
export function budgetPrecondition(shares: ReadonlyArray<BudgetShare>, budget: FreeTierBudget = {}): { condition: any; errorMessage: string } {
  const limits = { ...ALWAYS_FREE_BUDGET, ...budget };
  const sum = (of: (share: BudgetShare) => number) =>
    shares.map((share) => Op.mul(share.count, of(share))).reduce((left, right) => Op.add(left, right));
  const checks = DIMENSIONS.map((dimension) => Op.lte(sum(dimension.share), limits[dimension.key]));
  return {
    condition: checks.reduce((left, right) => Op.and(left, right)),
    errorMessage:
      `The cluster exceeds the Always Free budget of ${limits.ocpus} OCPUs, ${limits.memoryInGbs} GB of memory and ` +
      `${limits.bootVolumeInGbs} GB of boot volumes (${shares.map((share) => share.name).join(" + ")}). ` +
      "Lower the worker count or the node size.",
  };
}
