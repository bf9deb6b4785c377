/**
 * Deliberate bugs, for showing that the simulator and the exhaustive checker can fail. They are
 * test-only hooks, not public API: the checkers, their tests and `cli/sim.ts` import this file
 * by path. Never set one outside such a test: each breaks atomicity or liveness.
 *
 * The first four break a machine (protocol/); the `driver-*` ones break the driver that carries
 * out the machines' actions for the real nodes and the simulator alike (driver/driver.ts).
 */
export const Mutation = {
  /** Participant sends VOTE-COMMIT without waiting for WORKER-READY to be durable. */
  ParticipantVotesBeforeForce: "participant-votes-before-force",
  /** Coordinator sends GLOBAL-COMMIT without waiting for COORD-COMMIT to be durable. */
  CoordinatorCommitsBeforeForce: "coordinator-commits-before-force",
  /** A participant in INIT tells an asking peer "abort" without forcing WORKER-ABORT first. */
  PeerAbortsUnforced: "peer-aborts-unforced",
  /** A participant in READY never asks for the decision (breaks liveness, not safety). */
  ParticipantNeverAsks: "participant-never-asks",
  /**
   * The driver writes a forced record without its sync and feeds `durable` back once it is
   * written: the machine then sends what depends on a record a crash can still lose.
   */
  DriverDurableBeforeSync: "driver-durable-before-sync",
} as const;
export type Mutation = (typeof Mutation)[keyof typeof Mutation];

/** @internal The mutations that break a machine; the others leave the machines alone. */
export function isMachineMutation(mutation: Mutation | undefined): mutation is Mutation {
  return mutation !== undefined && !mutation.startsWith("driver-");
}
