import { Testing } from "cdktf";
// Types of toHaveResource / toHaveResourceWithProperties / toHaveDataSourceWithProperties.
import "cdktf/lib/testing/adapters/jest";

Testing.setupJest();
