// Helpers shared by every package's tests (tsconfig.test.json type-checks them with the tests).
export { endpointFor, starter, transports, type Teardown, type Transport } from "./runtime.js";
export { eventually, sleep } from "./wait.js";
export { exited, fixtures, forkChild, freePort, nextMessage } from "./process.js";
export { RawClient, RawOwner, batch, type RawFrame } from "./wire.js";
export { rng } from "./rng.js";
