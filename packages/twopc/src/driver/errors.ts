/** The node was closed before (or while) the operation ran. */
export class NodeClosedError extends Error {
  override readonly name = "NodeClosedError";
  readonly code = "ERR_NODE_CLOSED";
}

/**
 * The node stopped: its stable log failed (a write or sync error), so nothing it would say
 * could be trusted to survive a crash. Restart it: recovery reads what the log holds.
 */
export class NodeFailedError extends Error {
  override readonly name = "NodeFailedError";
  readonly code = "ERR_NODE_FAILED";
}
