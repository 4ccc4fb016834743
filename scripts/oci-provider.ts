/** What the library uses of the oracle/oci provider; the trim and generate scripts and the validator share it. */
export const OCI_PROVIDER_ADDRESS = "registry.terraform.io/oracle/oci";

/** The schema the bindings are generated from; newer releases are admitted by the constraint below. */
export const OCI_SCHEMA_VERSION = "5.43.0";

/** 8.28.0 was checked against the resources below (shared/schemas); nothing the stack uses changed incompatibly. */
export const OCI_VERSION_CONSTRAINT = ">= 5.43.0, < 9.0.0";

export const OCI_RESOURCES = [
  "oci_core_vcn",
  "oci_core_subnet",
  "oci_core_internet_gateway",
  "oci_core_route_table",
  "oci_core_security_list",
  "oci_core_network_security_group",
  "oci_core_network_security_group_security_rule",
  "oci_core_instance",
  "oci_objectstorage_bucket",
  "oci_objectstorage_object",
  "oci_objectstorage_preauthrequest",
  "oci_identity_customer_secret_key",
];

export const OCI_DATA_SOURCES = [
  "oci_identity_availability_domains",
  "oci_core_images",
  "oci_core_vnic_attachments",
  "oci_core_vnic",
  "oci_objectstorage_namespace",
  "oci_identity_customer_secret_keys",
];
