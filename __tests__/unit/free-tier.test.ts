/**
 * lib/free-tier.ts at its edges: a cluster exactly at the allowance passes, one unit over is refused with every
 * group's share listed, a budget overrides the tenancy kind's amounts, and the plan-time precondition written out.
 * Expected values are written out, not computed.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { BudgetShare, budgetPrecondition, checkBudget, describeAllowance, validateTenancyKind } from "../../lib/free-tier";

const stack = new TerraformStack(Testing.app(), "free-tier");
const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });

const share = (name: string, countProp: string, count: number, ocpus: number, memoryInGbs: number, bootVolumeSizeInGbs: number): BudgetShare => ({
  name,
  countProp,
  count,
  ocpus,
  memoryInGbs,
  bootVolumeSizeInGbs,
});

describe("validateTenancyKind", () => {
  test.each(["always-free", "pay-as-you-go"])("%s is a tenancy kind", (kind) => {
    expect(() => validateTenancyKind(kind)).not.toThrow();
  });

  test("anything else is refused, naming the prop the caller gives and both kinds", () => {
    expect(() => validateTenancyKind("free")).toThrow('tenancyKind: "free" is not a tenancy kind; use one of always-free, pay-as-you-go');
    expect(() => validateTenancyKind("paid", "props.kind")).toThrow('props.kind: "paid" is not a tenancy kind; use one of always-free, pay-as-you-go');
  });

  test("a Terraform value is left to its variable's validation", () => {
    const kind = new TerraformVariable(stack, "kind_to_validate", { type: "string" }).stringValue;
    expect(() => validateTenancyKind(kind)).not.toThrow();
  });
});

test("describeAllowance names each kind's amounts", () => {
  expect(describeAllowance("always-free")).toBe("Always Free tenancy: 2 OCPUs, 12 GB of memory, 200 GB of boot volumes");
  expect(describeAllowance("pay-as-you-go")).toBe("Pay As You Go tenancy: 4 OCPUs, 24 GB of memory, 200 GB of boot volumes");
});

describe("checkBudget", () => {
  test("a cluster using exactly the Always Free allowance passes", () => {
    expect(() => checkBudget([share("manager", "managerCount", 1, 1, 6, 100), share("workers", "workerCount", 2, 0.5, 3, 50)])).not.toThrow();
  });

  test("one OCPU and six GB over: both sums, each group's share and the props to lower", () => {
    const shares = [share("manager", "managerCount", 1, 1, 6, 50), share("workers (pool Workers)", "workerCount", 2, 1, 6, 50)];
    expect(() => checkBudget(shares)).toThrow(
      "the cluster exceeds the free allowance (Always Free tenancy: 2 OCPUs, 12 GB of memory, 200 GB of boot volumes): 3 OCPUs > 2; 18 GB of memory > 12.\n" +
        "  manager: 1 x (1 OCPU, 6 GB, 50 GB boot) = 1 OCPU, 6 GB, 50 GB boot\n" +
        "  workers (pool Workers): 2 x (1 OCPU, 6 GB, 50 GB boot) = 2 OCPU, 12 GB, 100 GB boot\n" +
        "Lower a pool's count (managerCount, workerCount) or its ocpus/memoryInGbs, " +
        'tenancyKind: "pay-as-you-go" if your tenancy is upgraded (over 2/12 is then billed per Oracle\'s Always Free page), ' +
        "raise the budget prop if your allowance differs, or set alwaysFree: false to run paid resources.",
    );
    expect(() => checkBudget(shares, {}, "pay-as-you-go")).not.toThrow();
  });

  test("boot volumes alone over; a Pay As You Go tenancy gets no hint to upgrade", () => {
    expect(() => checkBudget([share("manager", "managerCount", 1, 1, 1, 201)], {}, "pay-as-you-go")).toThrow(
      "the cluster exceeds the free allowance (Pay As You Go tenancy: 4 OCPUs, 24 GB of memory, 200 GB of boot volumes): 201 GB of boot volume > 200.\n" +
        "  manager: 1 x (1 OCPU, 1 GB, 201 GB boot) = 1 OCPU, 1 GB, 201 GB boot\n" +
        "Lower a pool's count (managerCount) or its bootVolumeSizeInGbs, raise the budget prop if your allowance differs, or set alwaysFree: false to run paid resources.",
    );
  });

  test("a budget overrides the tenancy kind's amount for what it sets, the rest stays", () => {
    const shares = [share("manager", "managerCount", 2, 1, 6, 50)];
    // Memory (12 GB) is at the Always Free amount: only the OCPUs are listed.
    expect(() => checkBudget(shares, { ocpus: 1 })).toThrow(/\): 2 OCPUs > 1\.\n/);
    expect(() => checkBudget(shares, { memoryInGbs: 11 })).toThrow(/\): 12 GB of memory > 11\.\n/);
    expect(() => checkBudget([share("manager", "managerCount", 1, 1, 1, 300)], { bootVolumeInGbs: 300 })).not.toThrow();
  });

  test.each([
    ["ocpus", { ocpus: NaN }, "budget.ocpus: NaN is out of range; use a number from 0 to 1000000"],
    ["memoryInGbs", { memoryInGbs: Infinity }, "budget.memoryInGbs: Infinity is out of range; use a number from 0 to 1000000"],
    ["bootVolumeInGbs", { bootVolumeInGbs: -1 }, "budget.bootVolumeInGbs: -1 is out of range; use a number from 0 to 1000000"],
  ])("a budget %s that would let any size through is refused", (_key, budget, message) => {
    expect(() => checkBudget([share("manager", "managerCount", 1, 1, 1, 50)], budget)).toThrow(message);
  });

  test("each group's line multiplies its count by each size", () => {
    expect(() => checkBudget([share("workers", "workerCount", 3, 2, 1, 10)])).toThrow("\n  workers: 3 x (2 OCPU, 1 GB, 10 GB boot) = 6 OCPU, 3 GB, 30 GB boot\n");
  });

  test("one size only Terraform knows, in any group, leaves the whole check to the precondition", () => {
    const memory = new TerraformVariable(stack, "memory_to_check", { type: "number" }).numberValue;
    // Known, these would be 3 or 4 OCPUs over the 2 of Always Free.
    expect(() => checkBudget([share("manager", "managerCount", 1, 3, memory, 50)])).not.toThrow();
    expect(() => checkBudget([share("manager", "managerCount", 1, 3, 6, 50), share("workers", "workerCount", 1, 1, memory, 50)])).not.toThrow();
  });

  test("a tenancy kind only Terraform knows is left to the precondition even with a budget given", () => {
    const kind = new TerraformVariable(stack, "kind_with_budget", { type: "string" }).stringValue;
    expect(() => checkBudget([share("manager", "managerCount", 1, 3, 6, 50)], { ocpus: 1 }, kind as never)).not.toThrow();
  });

  test("a count or a tenancy kind only Terraform knows is left to the precondition", () => {
    const count = new TerraformVariable(stack, "count_to_check", { type: "number" }).numberValue;
    const kind = new TerraformVariable(stack, "kind_to_check", { type: "string" }).stringValue;
    expect(() => checkBudget([share("workers", "workerCount", count, 4, 24, 200)])).not.toThrow();
    expect(() => checkBudget([share("workers", "workerCount", 9, 4, 24, 200)], {}, kind as never)).not.toThrow();
  });
});

describe("budgetPrecondition", () => {
  const shares = [share("manager", "managerCount", 1, 1, 6, 50), share("workers", "workerCount", 2, 0.5, 3, 50)];

  test("a known tenancy kind: each sum against its amount", () => {
    const check = budgetPrecondition(shares);
    expect(resolve(check.condition)).toBe("${(((((1 * 1) + (2 * 0.5)) <= 2) && (((1 * 6) + (2 * 3)) <= 12)) && (((1 * 50) + (2 * 50)) <= 200))}");
    expect(check.errorMessage).toBe(
      "The cluster exceeds the free allowance (Always Free tenancy: 2 OCPUs, 12 GB of memory, 200 GB of boot volumes) (manager + workers). Lower the worker count or the node size.",
    );
  });

  test("a budget: its amounts, named in the message; the rest from the tenancy kind", () => {
    const check = budgetPrecondition(shares, { ocpus: 3, bootVolumeInGbs: 150 }, "pay-as-you-go");
    expect(resolve(check.condition)).toBe("${(((((1 * 1) + (2 * 0.5)) <= 3) && (((1 * 6) + (2 * 3)) <= 24)) && (((1 * 50) + (2 * 50)) <= 150))}");
    expect(check.errorMessage).toBe(
      "The cluster exceeds the budget given (ocpus 3, bootVolumeInGbs 150; the rest from the tenancy kind) (manager + workers). Lower the worker count or the node size.",
    );
  });

  test("a tenancy kind only Terraform knows: each amount looked up at plan time (cdktf writes lookup(map, key) as map[key])", () => {
    const kind = new TerraformVariable(stack, "tenancy_kind", { type: "string" }).stringValue;
    const check = budgetPrecondition([share("manager", "managerCount", 1, 1, 6, 50)], {}, kind as never);
    expect(resolve(check.condition)).toBe(
      '${((((1 * 1) <= {"always-free" = 2, "pay-as-you-go" = 4}[var.tenancy_kind]) && ((1 * 6) <= {"always-free" = 12, "pay-as-you-go" = 24}[var.tenancy_kind])) && ((1 * 50) <= {"always-free" = 200, "pay-as-you-go" = 200}[var.tenancy_kind]))}',
    );
    expect(check.errorMessage).toBe(
      "The cluster exceeds the free allowance of the tenancy kind chosen (Always Free tenancy: 2 OCPUs, 12 GB of memory, 200 GB of boot volumes; " +
        "Pay As You Go tenancy: 4 OCPUs, 24 GB of memory, 200 GB of boot volumes) (manager). Lower the worker count or the node size.",
    );
  });
});
