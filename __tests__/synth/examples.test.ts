import { Testing } from "cdktf";
import { validateStack } from "../../scripts/lib/validate";
import { FreeTierClusterStack } from "../../examples/free-tier-cluster/main";
import { PaidWorkerPoolStack } from "../../examples/paid-worker-pool/main";
import { TailnetAdminClusterStack } from "../../examples/tailnet-admin-cluster/main";

describe("examples/", () => {
  test("free-tier-cluster synthesizes a clean stack with 1 manager and 1 worker", async () => {
    const json = JSON.parse(Testing.synth(new FreeTierClusterStack(Testing.app(), "free")));
    expect(await validateStack(json)).toEqual([]);
    const instances = Object.values<any>(json.resource.oci_core_instance);
    expect(instances.map((instance) => instance.count ?? 1).sort()).toEqual([1, 1]);
  });

  test("paid-worker-pool: a pay-as-you-go free pool of 3 plus a 2 x 4 OCPU paid pool, and stays valid", async () => {
    const json = JSON.parse(Testing.synth(new PaidWorkerPoolStack(Testing.app(), "paid")));
    expect(await validateStack(json)).toEqual([]);
    expect(Object.entries<any>(json.resource.oci_core_instance).find(([name]) => name.includes("_Workers_"))![1].count).toBe(3);
    const builders = Object.entries<any>(json.resource.oci_core_instance).find(([name]) => name.includes("Builders"))![1];
    expect(builders).toMatchObject({ count: 2, shape_config: { ocpus: 4, memory_in_gbs: 24 } });
    expect(JSON.stringify(json)).toMatch(/\\"serverType\\" = \\"build\\"/);
    expect(json.output.workers.value).toMatch(/^\$\{merge\(local\.\S+Workers_Nodes\S*, local\.\S+Builders_Nodes\S*\)\}$/);
    for (const pool of ["Workers", "Builders"]) {
      const [, map] = Object.entries<string>(json.locals).find(([name]) => name.includes(`${pool}_Nodes`))!;
      expect(map).toMatch(new RegExp(`^\\$\\{\\{for worker in oci_core_instance\\.\\S+_${pool}_\\S+ : worker\\.display_name => `));
    }
  });

  test("tailnet-admin-cluster opens nothing but 80/443 to CIDRs and joins every node to the tailnet", async () => {
    const json = JSON.parse(Testing.synth(new TailnetAdminClusterStack(Testing.app(), "tailnet")));
    expect(await validateStack(json)).toEqual([]);
    const fromCidrs = Object.values<any>(json.resource.oci_core_network_security_group_security_rule)
      .filter((rule) => rule.direction === "INGRESS" && rule.source_type === "CIDR_BLOCK")
      .map((rule) => rule.tcp_options?.destination_port_range.min)
      .sort();
    expect(fromCidrs).toEqual([443, 80]);
    expect(json.output.dashboard_on_tailnet.value).toBe("http://dokploy-manager:3000");
    for (const instance of Object.values<any>(json.resource.oci_core_instance)) {
      expect(instance.metadata.user_data).toMatch(/tailscale\.key/);
    }
  });
});
