/**
 * `@zmbox/twopc/sim`: checking the 2PC machines. `simulateSeed` runs one random scenario with
 * crashes, message loss and torn logs on a virtual clock; `checkExhaustively` explores every
 * interleaving of one small transaction.
 */
export { simulateSeed } from "./sim/simulator.js";
export { checkExhaustively } from "./sim/exhaustive.js";
export type { SimOptions, SimResult, SimStats } from "./sim/simulator.js";
export type { ExhaustiveOptions, ExhaustiveResult, ExhaustiveViolation } from "./sim/exhaustive.js";
