/**
 * The free A1 allowance as a checked budget: at synth time when every size is known, otherwise at plan time
 * through a lifecycle precondition (Terraform >= 1.2). Which allowance applies depends on the tenancy kind
 * (research/oci.md, "Always Free"): since June 2026 an Always Free tenancy gets 2 OCPUs / 12 GB of A1; Oracle's
 * pricing pages still give a Pay As You Go tenancy 4 OCPUs / 24 GB free, which the user must choose explicitly.
 */
import { Fn, Op, Token } from "cdktf";
import { checkNumber } from "./rules";

export interface FreeTierBudget {
  /** @default - the tenancy kind's allowance: 2 (Always Free) or 4 (Pay As You Go) */
  readonly ocpus?: number;
  /** @default - the tenancy kind's allowance: 12 (Always Free) or 24 (Pay As You Go) */
  readonly memoryInGbs?: number;
  /** @default - 200 (block storage, boot volumes included; both tenancy kinds) */
  readonly bootVolumeInGbs?: number;
}

/** "always-free": a free-only tenancy. "pay-as-you-go": an upgraded tenancy; what exceeds the free amount is billed. */
export type TenancyKind = "always-free" | "pay-as-you-go";
export const TENANCY_KINDS: ReadonlyArray<TenancyKind> = ["always-free", "pay-as-you-go"];
export const DEFAULT_TENANCY_KIND: TenancyKind = "always-free";

/** The free A1 amount per tenancy kind. */
export const FREE_ALLOWANCES: Readonly<Record<TenancyKind, Required<FreeTierBudget>>> = {
  "always-free": { ocpus: 2, memoryInGbs: 12, bootVolumeInGbs: 200 },
  "pay-as-you-go": { ocpus: 4, memoryInGbs: 24, bootVolumeInGbs: 200 },
};

/** Object Storage an Always Free tenancy gets, all buckets together (research/oci.md); the backups must fit in it. */
export const FREE_OBJECT_STORAGE_GBS = 20;

/**
 * Oracle stops an Always Free instance whose CPU, network and memory use are all under thresholdPercent at the 95th
 * percentile over windowDays (research/oci.md); Pay As You Go tenancies are exempt.
 */
export const ORACLE_IDLE_RULE = { windowDays: 7, thresholdPercent: 20, percentile: 95 } as const;

const TENANCY_TITLES: Readonly<Record<TenancyKind, string>> = { "always-free": "Always Free", "pay-as-you-go": "Pay As You Go" };

/** Throws, naming the prop, unless `kind` is a tenancy kind (a Terraform value is checked by its variable's validation). */
export function validateTenancyKind(kind: string, prop = "tenancyKind"): void {
  if (!Token.isUnresolved(kind) && !TENANCY_KINDS.includes(kind as TenancyKind)) {
    throw new Error(`${prop}: "${kind}" is not a tenancy kind; use one of ${TENANCY_KINDS.join(", ")}`);
  }
}

/** "Always Free tenancy: 2 OCPUs, 12 GB of memory, 200 GB of boot volumes" for messages. */
export function describeAllowance(kind: TenancyKind): string {
  const limits = FREE_ALLOWANCES[kind];
  return `${TENANCY_TITLES[kind]} tenancy: ${limits.ocpus} OCPUs, ${limits.memoryInGbs} GB of memory, ${limits.bootVolumeInGbs} GB of boot volumes`;
}

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

/**
 * Throws, listing each group's share, when known sizes exceed the tenancy kind's allowance (or `budget`, which
 * overrides it); shares with tokens, or a tenancy kind only Terraform knows, are left to the precondition.
 */
export function checkBudget(shares: ReadonlyArray<BudgetShare>, budget: FreeTierBudget = {}, tenancyKind: TenancyKind = DEFAULT_TENANCY_KIND): void {
  // A limit of NaN or Infinity would let any size through.
  for (const key of ["ocpus", "memoryInGbs", "bootVolumeInGbs"] as const) {
    if (budget[key] !== undefined) checkNumber(budget[key]!, `budget.${key}`, { min: 0, max: 1_000_000 });
  }
  if (Token.isUnresolved(tenancyKind) || !shares.every(isKnown)) return;
  const limits = { ...FREE_ALLOWANCES[tenancyKind], ...budget };
  const over = DIMENSIONS.filter((dimension) => total(shares, dimension.share) > limits[dimension.key]);
  if (over.length === 0) return;
  const lines = shares.map(
    (share) =>
      `  ${share.name}: ${share.count} x (${share.ocpus} OCPU, ${share.memoryInGbs} GB, ${share.bootVolumeSizeInGbs} GB boot)` +
      ` = ${share.count * share.ocpus} OCPU, ${share.count * share.memoryInGbs} GB, ${share.count * share.bootVolumeSizeInGbs} GB boot`,
  );
  const sums = over.map((dimension) => `${total(shares, dimension.share)} ${dimension.unit} > ${limits[dimension.key]}`);
  const upgrade = tenancyKind === "always-free" ? ', tenancyKind: "pay-as-you-go" if your tenancy is upgraded (over 2/12 is then billed per Oracle\'s Always Free page)' : "";
  throw new Error(
    `the cluster exceeds the free allowance (${describeAllowance(tenancyKind)}): ${sums.join("; ")}.\n${lines.join("\n")}\n` +
      `Lower a pool's count (${shares.map((share) => share.countProp).join(", ")}) or its ${over.map((d) => d.prop).join("/")}` +
      `${upgrade}, raise the budget prop if your allowance differs, or set alwaysFree: false to run paid resources.`,
  );
}

function total(shares: ReadonlyArray<BudgetShare>, of: (share: BudgetShare) => number): number {
  return shares.reduce((sum, share) => sum + share.count * of(share), 0);
}

/**
 * A Terraform precondition enforcing the budget at plan time, for sizes that come from variables. The tenancy
 * kind may itself be a Terraform value (the form's choice); then each limit is chosen at plan time.
 */
export function budgetPrecondition(
  shares: ReadonlyArray<BudgetShare>,
  budget: FreeTierBudget = {},
  tenancyKind: TenancyKind = DEFAULT_TENANCY_KIND,
): { condition: any; errorMessage: string } {
  const limitOf = (key: keyof FreeTierBudget): number => {
    if (budget[key] !== undefined) return budget[key]!;
    if (!Token.isUnresolved(tenancyKind)) return FREE_ALLOWANCES[tenancyKind][key];
    // A function call, so the operator around it needs no parentheses (cdktf adds none to a conditional).
    return Fn.lookup(Object.fromEntries(TENANCY_KINDS.map((kind) => [kind, FREE_ALLOWANCES[kind][key]])), tenancyKind);
  };
  const sum = (of: (share: BudgetShare) => number) =>
    shares.map((share) => Op.mul(share.count, of(share))).reduce((left, right) => Op.add(left, right));
  const checks = DIMENSIONS.map((dimension) => Op.lte(sum(dimension.share), limitOf(dimension.key)));
  const custom = (["ocpus", "memoryInGbs", "bootVolumeInGbs"] as const).filter((key) => budget[key] !== undefined);
  const allowance =
    custom.length > 0
      ? `the budget given (${custom.map((key) => `${key} ${budget[key]}`).join(", ")}; the rest from the tenancy kind)`
      : Token.isUnresolved(tenancyKind)
        ? `the free allowance of the tenancy kind chosen (${describeAllowance("always-free")}; ${describeAllowance("pay-as-you-go")})`
        : `the free allowance (${describeAllowance(tenancyKind)})`;
  return {
    condition: checks.reduce((left, right) => Op.and(left, right)),
    errorMessage: `The cluster exceeds ${allowance} (${shares.map((share) => share.name).join(" + ")}). Lower the worker count or the node size.`,
  };
}
