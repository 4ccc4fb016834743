import { validateStack } from "../../scripts/lib/validate";
import { buildApp } from "../../main";
import { Testing } from "cdktf";

const vcn = (extra: object = {}) => ({
  compartment_id: "${var.compartment_ocid}",
  cidr_blocks: ["10.0.0.0/16"],
  ...extra,
});

const stackWith = (resource: object, data: object = {}) => ({
  variable: { compartment_ocid: { type: "string" } },
  resource,
  data,
});

describe("validateStack against the oracle/oci schema", () => {
  test("a correct resource passes", async () => {
    expect(await validateStack(stackWith({ oci_core_vcn: { main: vcn() } }))).toEqual([]);
  });

  test("an unknown attribute is named with its path", async () => {
    const problems = await validateStack(stackWith({ oci_core_vcn: { main: vcn({ cidr_blok: "10.0.0.0/16" }) } }));
    expect(problems).toContainEqual(expect.stringMatching(/^resource\.oci_core_vcn\.main\.cidr_blok: unknown attribute or block "cidr_blok"/));
  });

  test("a missing required attribute is named", async () => {
    const problems = await validateStack(stackWith({ oci_core_vcn: { main: { cidr_blocks: ["10.0.0.0/16"] } } }));
    expect(problems).toContainEqual('resource.oci_core_vcn.main: missing required attribute "compartment_id"');
  });

  test("a block given twice where the schema allows one is wrong nesting", async () => {
    const instance = {
      availability_domain: "AD-1",
      compartment_id: "${var.compartment_ocid}",
      shape: "VM.Standard.A1.Flex",
      shape_config: [{ ocpus: 1 }, { ocpus: 2 }],
    };
    const problems = await validateStack(stackWith({ oci_core_instance: { node: instance } }));
    expect(problems).toContainEqual(expect.stringMatching(/resource\.oci_core_instance\.node\.shape_config: at most 1 "shape_config" block/));
  });

  test("an attribute given as a block, and a block given as a string, are wrong nesting", async () => {
    const rule = {
      network_security_group_id: "x",
      direction: "INGRESS",
      protocol: "6",
      tcp_options: "22",
      source: { cidr: "0.0.0.0/0" },
    };
    const problems = await validateStack(stackWith({ oci_core_network_security_group_security_rule: { ssh: rule } }));
    expect(problems).toContainEqual(expect.stringMatching(/tcp_options(\[0\])?: expected a block \(object\), got string "22"/));
    expect(problems).toContainEqual(expect.stringMatching(/\.source: expected a string, got an object/));
  });

  test("a computed-only attribute cannot be set, and literal types are checked", async () => {
    const problems = await validateStack(stackWith({ oci_core_vcn: { main: vcn({ state: "AVAILABLE", is_ipv6enabled: "maybe" }) } }));
    expect(problems).toContainEqual(expect.stringMatching(/oci_core_vcn\.main\.state: "state" is computed by the provider/));
    expect(problems).toContainEqual(expect.stringMatching(/is_ipv6enabled: expected a bool, got string "maybe"/));
  });

  test("data sources are checked too", async () => {
    const problems = await validateStack(stackWith({}, { oci_core_images: { ubuntu: { operating_system: "Canonical Ubuntu" } } }));
    expect(problems).toContainEqual('data.oci_core_images.ubuntu: missing required attribute "compartment_id"');
  });

  test("the provider block is checked", async () => {
    const problems = await validateStack({ provider: { oci: [{ region: "eu-frankfurt-1", regoin: "x" }] } });
    expect(problems).toContainEqual(expect.stringMatching(/provider\.oci\[0\]\.regoin: unknown attribute/));
  });
});

describe("validateStack references", () => {
  test("a stray ${HOME} from a bash script is reported with the attribute's path", async () => {
    const stack = stackWith({ oci_core_vcn: { main: vcn({ display_name: 'echo "${HOME}"' }) } });
    const problems = await validateStack(stack);
    expect(problems).toEqual([expect.stringMatching(/^resource\.oci_core_vcn\.main\.display_name: "\$\{HOME\}" refers to nothing/)]);
  });

  test("escaped markers, declared references and for-expression variables are fine", async () => {
    const stack = {
      variable: { names: { type: "list(string)" } },
      locals: { prefix: "x" },
      resource: {
        oci_core_vcn: { main: vcn({ compartment_id: "${local.prefix}", display_name: "$${HOME} %%{x} $ 100%" }) },
      },
      output: {
        byName: { value: "${{for w in var.names : w => upper(w)}}" },
        text: { value: "%{ for n in var.names }${n}%{ endfor } ${oci_core_vcn.main.id} ${count.index}" },
      },
    };
    expect(await validateStack(stack)).toEqual([]);
  });

  test("references to undeclared variables, resources and data sources are named", async () => {
    const stack = {
      output: {
        a: { value: "${var.missing}" },
        b: { value: "${oci_core_vcn.ghost.id}" },
        c: { value: "${data.oci_core_images.none.images[0].id}" },
        d: { value: "${ unclosed" },
      },
    };
    const problems = await validateStack(stack);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^output\.a\.value: "\$\{var\.missing\}"/),
        expect.stringMatching(/^output\.b\.value: "\$\{oci_core_vcn\.ghost\.id\}"/),
        expect.stringMatching(/^output\.c\.value: "\$\{data\.oci_core_images\.none\.images\.0\.id\}"/),
        expect.stringMatching(/^output\.d\.value: not a valid Terraform template/),
      ]),
    );
  });
});

describe("the app's stacks", () => {
  test("the OCI stack in main.ts validates clean against both provider schemas", async () => {
    const { stack } = buildApp();
    expect(await validateStack(JSON.parse(Testing.synth(stack)))).toEqual([]);
  });
});
