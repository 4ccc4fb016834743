import { Testing } from "cdktf";
// Types of toHaveResource / toHaveResourceWithProperties / toHaveDataSourceWithProperties.
import "cdktf/lib/testing/adapters/jest";

Testing.setupJest();

// Synthesized stacks are also checked against the newest oracle/oci release's schema when the shared inputs are
// beside the repo (scripts/lib/validate.ts takes the path from here; it never looks outside the package itself).
const newestOciSchema = require("path").join(__dirname, "..", "..", "shared", "schemas", "oracle-oci-8.28.0.core.json");
if (!process.env.DOKPLOY_OCI_EXTRA_SCHEMAS && require("fs").existsSync(newestOciSchema)) process.env.DOKPLOY_OCI_EXTRA_SCHEMAS = newestOciSchema;
