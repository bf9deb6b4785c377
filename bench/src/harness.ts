/**
 * What a benchmark entry (`bench/src/entries/*.ts`) and a role (`bench/src/roles/*.ts`) are
 * built from. Importing this module has no side effects, so roles import it too.
 *
 * An entry forks its roles with `ctx.fork`, lets them go with `start`, and turns their results
 * into one {@link Measurement}; see `entries/zeromq-push-pull.ts` and `roles/zmq-pull.ts`.
 */
export type { Better, DerivedBaseline, Entry, Measurement, RunContext } from "./entry.js";
export type { RoleSpec, Usage } from "./ipc.js";
export type { RoleProcess } from "./proc.js";
export type { RoleContext } from "./role.js";
export type { RssSampler, RssSummary } from "./rss.js";
export type { Spread, Timed } from "./stats.js";
export { runRole } from "./role.js";
export { measureRss } from "./rss.js";
export { cpuUs, inLanes, percentile, percentiles, spread, timeEach } from "./stats.js";
