/**
 * A process forked by another (with an IPC channel) exits when its parent dies. Without this,
 * killing an example mid-run would leave its children running: the OS does not end children
 * with their parent. The parent's end of the IPC channel closes when it dies, and the child
 * sees `disconnect`.
 *
 * Call it first thing in a child. `onParentGone` may stop gracefully; the process exits anyway
 * after `graceMs`.
 */
export function exitWithParent(onParentGone?: () => Promise<void> | void, graceMs = 2000): void {
  if (process.channel === undefined && process.send === undefined) return; // started from a shell
  const leave = (): void => {
    setTimeout(() => process.exit(1), graceMs).unref();
    Promise.resolve()
      .then(onParentGone)
      .then(
        () => process.exit(process.exitCode ?? 0),
        () => process.exit(1),
      );
  };
  if (!process.connected) leave(); // the parent died before we got here
  else process.once("disconnect", leave);
  // A `disconnect` listener holds the channel open, and so the process alive: let the process
  // end on its own when its work is done.
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
}
