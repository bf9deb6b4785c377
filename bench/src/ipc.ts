/**
 * The messages a benchmark harness and a role process exchange over the `child_process.fork`
 * IPC channel (serialization "advanced", so Buffers, typed arrays and bigints pass as they are).
 *
 *   parent                         child (bench/dist/roles/NAME.js)
 *     | fork(NAME.js, [argsJSON])     |
 *     |<------------- ready {info} ---|  set up: bound, connected, ...
 *     |--- start {params} ----------->|  optional: roles that wait for a go
 *     |<------------------- timed ----|  optional: warmed up, the timed part begins
 *     |--- usage -------------------->|  any time: answered by the role runtime
 *     |<------ usage {rss, cpuUs} ----|
 *     |--- stop --------------------->|  optional: ends roles that run until told
 *     |<---------- result {result} ---|  or error {message, stack}; then the child exits
 */

/** What a role declares about itself: its argument, ready info, start parameters and result. */
export interface RoleSpec {
  /** Passed on the child's command line as JSON at fork time. */
  readonly args: unknown;
  /** Sent by the child once it is set up (e.g. the endpoint it bound). */
  readonly ready: unknown;
  /** Sent by the parent to let the child begin its measured work. */
  readonly start: unknown;
  /** Sent by the child when its work is done. */
  readonly result: unknown;
}

/** Parent to child. */
export type ToChild =
  | { readonly type: "start"; readonly params: unknown }
  | { readonly type: "stop" }
  | { readonly type: "usage" };

/** Child to parent. */
export type FromChild =
  | { readonly type: "ready"; readonly info: unknown }
  | { readonly type: "timed" }
  | { readonly type: "result"; readonly result: unknown }
  | { readonly type: "error"; readonly message: string; readonly stack: string | undefined }
  | ({ readonly type: "usage" } & Usage);

/** What a role process reports about itself on request. */
export interface Usage {
  /** Resident set size, bytes. */
  readonly rss: number;
  /** CPU time used so far, user + system, all threads (the ZeroMQ I/O thread and GC helpers too), microseconds. */
  readonly cpuUs: number;
}
