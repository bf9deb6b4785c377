/** Keeps the calling thread busy for `us` microseconds (nothing for 0): a stand-in for work a message. */
export function spin(us: number): void {
  if (us <= 0) return;
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}
