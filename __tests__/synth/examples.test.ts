import { Testing } from "cdktf";
import { validateStack } from "../../lib/validate";
import { FreeTierClusterStack } from "../../examples/free-tier-cluster/main";
import { PaidWorkerPoolStack } from "../../examples/paid-worker-pool/main";

describe("examples/", () => {
  test("free-tier-cluster synthesizes a clean stack with 1 manager and 3 workers", async () => {
    const json = JSON.parse(Testing.synth(new FreeTierClusterStack(Testing.app(), "free")));
    expect(await validateStack(json)).toEqual([]);
    const instances = Object.values<any>(json.resource.oci_core_instance);
    expect(instances.map((instance) => instance.count ?? 1).sort()).toEqual([1, 3]);
  });

  test("paid-worker-pool adds a 2 x 4 OCPU pool beside the free one and stays valid", async () => {
    const json = JSON.parse(Testing.synth(new PaidWorkerPoolStack(Testing.app(), "paid")));
    expect(await validateStack(json)).toEqual([]);
    const builders = Object.entries<any>(json.resource.oci_core_instance).find(([name]) => name.includes("Builders"))![1];
    expect(builders).toMatchObject({ count: 2, shape_config: { ocpus: 4, memory_in_gbs: 24 } });
    expect(JSON.stringify(json)).toMatch(/\\"serverType\\" = \\"build\\"/);
  });
});
