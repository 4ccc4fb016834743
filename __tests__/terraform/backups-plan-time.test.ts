/**
 * OCI allows a user two Customer Secret Keys; the backups bucket's key would be a third. The precondition the stack
 * puts on that key (constructs/oci/backup-bucket.ts) runs here through the real terraform: the synthesized
 * precondition, unchanged, on a provider-free resource, with the user's keys (data.oci_identity_customer_secret_keys)
 * standing in as a variable in the shape the provider's data source has, and the bucket's random suffix as another.
 */
import { TerraformStack, Testing } from "cdktf";
import { DokployCluster } from "../../constructs/oci/dokploy-cluster";
import { withStandIns } from "../helpers/oci-provider";
import { applyAndReadOutputs, applyExpectingFailure } from "../helpers/terraform";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp user@laptop";
const SUFFIX = "1a2b3c4d";
/** The display name the stack gives its own key (listed too once it exists): the bucket's name, suffix included. */
const OWN_KEY = `dokploy-backups-${SUFFIX} (Dokploy's backups)`;

let config: any;
let keysVariable: string;
let suffixVariable: string;

beforeAll(() => {
  const stack = new TerraformStack(Testing.app(), "backups-keys");
  new DokployCluster(stack, "Cluster", {
    compartmentId: "ocid1.compartment.oc1..test",
    sshPublicKeys: [KEY],
    adminEmail: "admin@example.com",
    backups: { region: "eu-frankfurt-1", userId: "ocid1.user.oc1..aaaatest" },
  });
  const json = withStandIns(JSON.parse(Testing.synth(stack)), ["oci_identity_customer_secret_keys"]);
  const [secretKey] = Object.values<any>(json.resource.oci_identity_customer_secret_key);
  keysVariable = Object.keys(json.variable).find((name) => name.startsWith("standin_data_oci_identity_customer_secret_keys_"))!;
  suffixVariable = Object.keys(json.variable).find((name) => name.startsWith("standin_random_id_") && name.includes("Backups"))!;
  config = {
    variable: { [keysVariable]: { type: "any" }, [suffixVariable]: { type: "any" } },
    resource: { terraform_data: { backups_key: { input: "key", lifecycle: { precondition: secretKey.lifecycle.precondition } } } },
    output: { ok: { value: "yes" } },
  };
});

/** The data source with count = 1: a list of one, whose customer_secret_keys are the user's keys. */
const userKeys = (...keys: Array<[string, string]>) =>
  JSON.stringify([{ customer_secret_keys: keys.map(([displayName, state]) => ({ display_name: displayName, state })) }]).replace(/"(\w+)":/g, "$1 = ");

const vars = (keys: string) => ({ [keysVariable]: keys, [suffixVariable]: `{hex = "${SUFFIX}"}` });

test("a user with no key, one key, or a deleted one besides this stack's own key passes", () => {
  for (const keys of [userKeys(), userKeys(["laptop", "ACTIVE"]), userKeys(["laptop", "ACTIVE"], ["old", "DELETED"], [OWN_KEY, "ACTIVE"])]) {
    expect(applyAndReadOutputs(config, vars(keys)).ok.value).toBe("yes");
  }
});

test("a user who already has two keys is stopped at plan time with what to do", () => {
  const failed = applyExpectingFailure(config, vars(userKeys(["laptop", "ACTIVE"], ["ci", "ACTIVE"]))).replace(/\s+/g, " ");
  expect(failed).toMatch(/backups: the user already has 2 Customer Secret Keys, OCI's limit\. Delete one \(Identity > Users > Customer secret keys\), or give the access key and secret of an existing one, or switch backups off\./);
});

test("another cluster's backups key (same prefix, another suffix) counts against the two", () => {
  const failed = applyExpectingFailure(config, vars(userKeys(["laptop", "ACTIVE"], ["dokploy-backups-99ff00aa (Dokploy's backups)", "ACTIVE"], [OWN_KEY, "ACTIVE"])));
  expect(failed.replace(/\s+/g, " ")).toContain("backups: the user already has 2 Customer Secret Keys, OCI's limit.");
});
