/**
 * `@zmbox/mailbox/internal`: helpers the project's other packages (@zmbox/twopc, the
 * benchmarks, the examples) share with the runtime. Not part of the public API: they may
 * change in any release.
 */
export { listen as onAbort } from "./abort.js";
export { DeadlineHeap, realClock, type Timed, type Clock, type ClockTimer } from "./deadlines.js";
export { Waits, WaitTimer, type Wait } from "./wait.js";
export { describe, isPlainObject, checkOptions, checkInteger, checkMs, checkSignal, checkFunction, checkName } from "./check.js";
export { ownerSocketOptions, peerSocketOptions } from "./sockets.js";
