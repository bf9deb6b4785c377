import { ActionType, OutcomeReason, type TwopcAction } from "./actions.js";
import { InvalidLogError, InvalidParticipantsError, TxIdInUseError } from "./errors.js";
import { EventType, TimerName, type BeginEvent, type CoordinatorEvent } from "./events.js";
import type { CoordinatorLogState, LogSummary } from "./log-state.js";
import { TxMachine, type Step } from "./machine.js";
import { MessageType, type TwopcMessage } from "./messages.js";
import { Mutation } from "../sim/mutation.js";
import { parseCoordinatorMachineOptions, type CoordinatorMachineOptions, type ResolvedCoordinatorMachineOptions } from "./options.js";
import { RecordType, type TwopcRecord } from "./records.js";
import { CoordinatorPhase, Decision, type NodeId, type TxId } from "./types.js";

/** Coordinator in WAIT: VOTE-REQ sent, collecting votes. */
export interface CoordinatorWaitTx {
  readonly phase: typeof CoordinatorPhase.Wait;
  readonly txId: TxId;
  readonly participants: readonly NodeId[];
  /** Participants that voted commit so far. */
  readonly committed: readonly NodeId[];
  /** Participants that voted read-only so far. */
  readonly readOnly: readonly NodeId[];
  /**
   * `durableStart`: VOTE-REQ waits for COORD-START to be durable; until then, the payload it
   * will carry. Absent once VOTE-REQ has gone out.
   */
  readonly awaitingStart?: { readonly payload: unknown };
}

/**
 * Coordinator in COMMIT: decided; sending GLOBAL-COMMIT until every commit voter ACKs. With no
 * commit voter (all read-only), only waiting for the forced END.
 */
export interface CoordinatorCommitTx {
  readonly phase: typeof CoordinatorPhase.Commit;
  readonly txId: TxId;
  readonly participants: readonly NodeId[];
  /** COORD-COMMIT is on stable storage; until then nothing tells anyone "commit". */
  readonly durable: boolean;
  /** Commit voters that have not ACKed yet. */
  readonly awaitingAck: readonly NodeId[];
}

/**
 * A transaction as the coordinator holds it. ABORT is not held: under presumed abort the
 * coordinator forgets an aborted transaction at once, and "unknown" already means abort.
 */
export type CoordinatorTx = CoordinatorWaitTx | CoordinatorCommitTx;

type Opts = ResolvedCoordinatorMachineOptions;

function stay(tx: CoordinatorTx | undefined): Step<CoordinatorTx> {
  return { tx, actions: [] };
}

function message(type: typeof MessageType.GlobalCommit | typeof MessageType.GlobalAbort, txId: TxId, from: NodeId): TwopcMessage {
  return { type, txId, from };
}

function validateBegin(event: BeginEvent, self: NodeId): number | undefined {
  const { txId, participants, timeout } = event;
  if (participants.length === 0) throw new InvalidParticipantsError(txId, "the list is empty");
  if (new Set(participants).size !== participants.length) throw new InvalidParticipantsError(txId, "a participant is named twice");
  if (participants.includes(self)) {
    throw new InvalidParticipantsError(txId, `the coordinator ${JSON.stringify(self)} is in the list (give its participant its own node id)`);
  }
  if (timeout !== undefined && !(timeout > 0 && Number.isFinite(timeout))) {
    throw new TypeError(`Expected \`timeout\` to be a number of milliseconds above 0, got \`${String(timeout)}\` (${typeof timeout})`);
  }
  return timeout;
}

function begin(tx: CoordinatorTx | undefined, event: BeginEvent, o: Opts): Step<CoordinatorTx> {
  if (tx !== undefined) throw new TxIdInUseError(event.txId);
  const timeout = validateBegin(event, o.self) ?? o.voteTimeout;
  const { txId } = event;
  const participants = [...event.participants];
  // 2PC: coordinator INIT -> WAIT on "Recv: START, Send: VOTE-REQ" to all participants.
  // Presumed abort: COORD-START is not forced; if it is lost, the transaction is simply unknown,
  // which means abort. VOTE-REQ carries the participants for cooperative termination.
  const start: TwopcAction = { type: ActionType.Append, record: { type: RecordType.CoordStart, txId, participants }, force: event.durableStart === true };
  const wait: CoordinatorWaitTx = { phase: CoordinatorPhase.Wait, txId, participants, committed: [], readOnly: [] };
  const timer: TwopcAction = { type: ActionType.SetTimer, txId, timer: TimerName.Vote, ms: timeout };
  // A caller's own id: no participant hears of it before COORD-START is durable (see durableStart).
  if (event.durableStart === true) return { tx: { ...wait, awaitingStart: { payload: event.payload } }, actions: [start, timer] };
  return { tx: wait, actions: [start, ...voteRequests(wait, event.payload, o), timer] };
}

function voteRequests(tx: CoordinatorWaitTx, payload: unknown, o: Opts): TwopcAction[] {
  const { txId, participants } = tx;
  const body = payload === undefined ? {} : { payload };
  return participants.map((to) => ({ type: ActionType.Send, to, msg: { type: MessageType.VoteReq, txId, from: o.self, participants, ...body } }));
}

function abort(
  tx: Pick<CoordinatorWaitTx, "txId" | "participants" | "readOnly">,
  reason: OutcomeReason,
  o: Opts,
  by?: NodeId,
  detail?: string,
): Step<CoordinatorTx> {
  const { txId } = tx;
  // 2PC: "If anyone votes to abort, coordinator writes Abort in its log and tells
  // everyone to abort" (GLOBAL-ABORT; read-only voters have left and the aborter knows).
  // Presumed abort: COORD-ABORT is not forced and no ACK is awaited; a participant that misses
  // GLOBAL-ABORT asks, and the coordinator, having forgotten, answers abort.
  const actions: TwopcAction[] = [
    { type: ActionType.ClearTimer, txId, timer: TimerName.Vote },
    { type: ActionType.Append, record: { type: RecordType.CoordAbort, txId }, force: false },
  ];
  for (const to of tx.participants) {
    if (to !== by && !tx.readOnly.includes(to)) actions.push({ type: ActionType.Send, to, msg: message(MessageType.GlobalAbort, txId, o.self) });
  }
  actions.push({ type: ActionType.Outcome, txId, committed: false, reason, ...(by === undefined ? {} : { by }), ...(detail === undefined ? {} : { detail }) });
  return { tx: undefined, actions };
}

function commitDurable(tx: CoordinatorCommitTx, reason: OutcomeReason, o: Opts): Step<CoordinatorTx> {
  const { txId } = tx;
  // 2PC: "Then asks all nodes to commit" — GLOBAL-COMMIT to every commit voter, only now
  // that COORD-COMMIT is durable; resent on a timer until each has ACKed.
  const actions: TwopcAction[] = tx.awaitingAck.map((to) => ({ type: ActionType.Send, to, msg: message(MessageType.GlobalCommit, txId, o.self) }));
  actions.push({ type: ActionType.SetTimer, txId, timer: TimerName.Resend, ms: o.resendInterval });
  actions.push({ type: ActionType.Outcome, txId, committed: true, reason });
  return { tx: { ...tx, durable: true }, actions };
}

function allVoted(tx: CoordinatorWaitTx, o: Opts): Step<CoordinatorTx> {
  const { txId } = tx;
  const clear: TwopcAction = { type: ActionType.ClearTimer, txId, timer: TimerName.Vote };
  if (tx.committed.length === 0) {
    // Read-only optimisation: read-only voters leave phase 2; with nobody left there is nobody
    // to tell. END is still forced before "committed" is reported: COORD-START may survive a
    // crash, and a restart finding START alone would report the transaction aborted.
    return {
      tx: { phase: CoordinatorPhase.Commit, txId, participants: tx.participants, durable: false, awaitingAck: [] },
      actions: [clear, { type: ActionType.Append, record: { type: RecordType.CoordEnd, txId }, force: true }],
    };
  }
  // 2PC: "After all participants respond that they are prepared, then the coordinator
  // writes Commit to its log" — forced; GLOBAL-COMMIT waits for the durable event.
  const next: CoordinatorCommitTx = { phase: CoordinatorPhase.Commit, txId, participants: tx.participants, durable: false, awaitingAck: tx.committed };
  const force = o.mutation !== Mutation.CoordinatorCommitsBeforeForce;
  const actions: TwopcAction[] = [clear, { type: ActionType.Append, record: { type: RecordType.CoordCommit, txId, participants: tx.committed }, force }];
  if (force) return { tx: next, actions };
  const early = commitDurable(next, OutcomeReason.AllVotedCommit, o);
  return { tx: early.tx, actions: [...actions, ...early.actions] };
}

function onVote(tx: CoordinatorTx | undefined, msg: TwopcMessage, readOnly: boolean, o: Opts): Step<CoordinatorTx> {
  if (tx === undefined) {
    // Presumed abort: a coordinator that knows nothing of a transaction aborted it (or lost its
    // START); a participant that voted commit is told at once instead of after its ask timer.
    if (readOnly) return stay(tx);
    return { tx, actions: [{ type: ActionType.Send, to: msg.from, msg: message(MessageType.GlobalAbort, msg.txId, o.self) }] };
  }
  // Before VOTE-REQ went out (durableStart) no vote can be for this transaction.
  if (tx.phase !== CoordinatorPhase.Wait || tx.awaitingStart !== undefined || !tx.participants.includes(msg.from)) return stay(tx);
  if (tx.committed.includes(msg.from) || tx.readOnly.includes(msg.from)) return stay(tx);
  const next: CoordinatorWaitTx = readOnly ? { ...tx, readOnly: [...tx.readOnly, msg.from] } : { ...tx, committed: [...tx.committed, msg.from] };
  // 2PC: "If receive VOTE-COMMIT from all N participants" (read-only counts as a yes).
  if (next.committed.length + next.readOnly.length < next.participants.length) return stay(next);
  return allVoted(next, o);
}

function onAck(tx: CoordinatorTx | undefined, from: NodeId): Step<CoordinatorTx> {
  if (tx?.phase !== CoordinatorPhase.Commit || !tx.awaitingAck.includes(from)) return stay(tx);
  const awaitingAck = tx.awaitingAck.filter((p) => p !== from);
  if (awaitingAck.length > 0) return stay({ ...tx, awaitingAck });
  const { txId } = tx;
  // 2PC: "After receive ACKs, coordinator writes 'Got Commit' to log" — END, not forced:
  // if it is lost, recovery finds COMMIT, resends GLOBAL-COMMIT and the participants ACK again.
  return {
    tx: undefined,
    actions: [
      { type: ActionType.ClearTimer, txId, timer: TimerName.Resend },
      { type: ActionType.Append, record: { type: RecordType.CoordEnd, txId }, force: false },
    ],
  };
}

function onDecisionReq(tx: CoordinatorTx | undefined, msg: TwopcMessage, o: Opts): Step<CoordinatorTx> {
  const reply = (decision: Decision): Step<CoordinatorTx> => ({
    tx,
    actions: [{ type: ActionType.Send, to: msg.from, msg: { type: MessageType.Decision, txId: msg.txId, from: o.self, decision } }],
  });
  // Presumed abort: a coordinator that knows nothing of a transaction answers ABORT.
  if (tx === undefined) return reply(Decision.Abort);
  // Only a durable COMMIT may be told; in WAIT, or while COMMIT is being forced, say nothing.
  if (tx.phase === CoordinatorPhase.Commit && tx.durable) return reply(Decision.Commit);
  return stay(tx);
}

function receive(tx: CoordinatorTx | undefined, msg: TwopcMessage, o: Opts): Step<CoordinatorTx> {
  switch (msg.type) {
    case MessageType.VoteCommit:
      return onVote(tx, msg, false, o);
    case MessageType.VoteReadOnly:
      return onVote(tx, msg, true, o);
    case MessageType.VoteAbort:
      // 2PC: in WAIT, "Recv: VOTE-ABORT, Send: GLOBAL-ABORT".
      if (tx?.phase === CoordinatorPhase.Wait && tx.participants.includes(msg.from)) return abort(tx, OutcomeReason.VotedAbort, o, msg.from, msg.type === MessageType.VoteAbort ? msg.reason : undefined);
      return stay(tx);
    case MessageType.Ack:
      return onAck(tx, msg.from);
    case MessageType.DecisionReq:
      return onDecisionReq(tx, msg, o);
    case MessageType.VoteReq:
    case MessageType.GlobalCommit:
    case MessageType.GlobalAbort:
    case MessageType.Decision:
      return stay(tx); // participant-bound: misrouted, ignored
    default:
      throw new Error(`unhandled message ${JSON.stringify(msg satisfies never)}`);
  }
}

function timeout(tx: CoordinatorTx | undefined, timer: TimerName, o: Opts): Step<CoordinatorTx> {
  switch (timer) {
    case TimerName.Vote:
      // 2PC: "In WAIT, if doesn't receive N votes, it times out and sends GLOBAL-ABORT".
      return tx?.phase === CoordinatorPhase.Wait ? abort(tx, OutcomeReason.VoteTimeout, o) : stay(tx);
    case TimerName.Resend: {
      if (tx?.phase !== CoordinatorPhase.Commit || !tx.durable) return stay(tx);
      // The coordinator resends GLOBAL-COMMIT until every commit voter has ACKed.
      const actions: TwopcAction[] = tx.awaitingAck.map((to) => ({ type: ActionType.Send, to, msg: message(MessageType.GlobalCommit, tx.txId, o.self) }));
      actions.push({ type: ActionType.SetTimer, txId: tx.txId, timer: TimerName.Resend, ms: o.resendInterval });
      return { tx, actions };
    }
    case TimerName.Join:
    case TimerName.Ask:
    case TimerName.Forget:
      return stay(tx); // participant timers
    default:
      throw new Error(`unhandled timer ${String(timer satisfies never)}`);
  }
}

function durable(tx: CoordinatorTx | undefined, record: TwopcRecord, o: Opts): Step<CoordinatorTx> {
  if (tx?.phase === CoordinatorPhase.Wait && tx.awaitingStart !== undefined && record.type === RecordType.CoordStart) {
    const { awaitingStart, ...started } = tx;
    return { tx: started, actions: voteRequests(started, awaitingStart.payload, o) };
  }
  if (tx?.phase !== CoordinatorPhase.Commit || tx.durable) return stay(tx);
  if (record.type === RecordType.CoordCommit) return commitDurable(tx, OutcomeReason.AllVotedCommit, o);
  if (record.type === RecordType.CoordEnd && tx.awaitingAck.length === 0) {
    return { tx: undefined, actions: [{ type: ActionType.Outcome, txId: tx.txId, committed: true, reason: OutcomeReason.AllReadOnly }] };
  }
  return stay(tx);
}

/**
 * The coordinator's transition for one transaction: pure, no I/O.
 *
 * @throws {TxIdInUseError} on `begin` for a transaction already held.
 * @throws {InvalidParticipantsError} on `begin` with an empty, duplicated or self-naming list.
 */
export function stepCoordinator(tx: CoordinatorTx | undefined, event: CoordinatorEvent, o: Opts): Step<CoordinatorTx> {
  switch (event.type) {
    case EventType.Begin:
      return begin(tx, event, o);
    case EventType.Receive:
      return receive(tx, event.msg, o);
    case EventType.Timeout:
      return timeout(tx, event.timer, o);
    case EventType.Durable:
      return durable(tx, event.record, o);
    default:
      throw new Error(`unhandled event ${JSON.stringify(event satisfies never)}`);
  }
}

/** What a restarted coordinator does with one transaction found in its log. */
export function recoverCoordinatorTx(state: CoordinatorLogState, o: Opts): Step<CoordinatorTx> {
  if (state.ended) return stay(undefined);
  const { txId, participants } = state;
  switch (state.phase) {
    case CoordinatorPhase.Wait:
      // 2PC recovery (docs/protocol.md): "Coordinator aborts in INIT, WAIT, or ABORT".
      return abort({ txId, participants, readOnly: [] }, OutcomeReason.RecoveredInWait, o);
    case CoordinatorPhase.Commit:
      // 2PC recovery (docs/protocol.md): "Coordinator commits in COMMIT" — phase 2 starts over.
      return commitDurable({ phase: CoordinatorPhase.Commit, txId, participants, durable: true, awaitingAck: state.ackers }, OutcomeReason.RecoveredInCommit, o);
    case CoordinatorPhase.Abort:
      return stay(undefined); // ABORT is always ended: presumed abort needs nothing more
    default:
      throw new Error(`unhandled phase ${String(state.phase satisfies never)}`);
  }
}

/**
 * The 2PC coordinator: one state per transaction, many transactions in flight.
 * See `machine.ts` for how a driver executes its actions.
 *
 * @example
 * const coordinator = new CoordinatorMachine({ self: "coord@tcp://10.0.0.1:7000" })
 * run(coordinator.recover(records))
 * run(coordinator.handle({ type: "begin", txId: "tx-1", participants: ["w1", "w2"] }))
 */
export class CoordinatorMachine extends TxMachine<CoordinatorTx, CoordinatorEvent> {
  readonly options: ResolvedCoordinatorMachineOptions;

  /** @throws {TypeError} when an option is invalid. */
  constructor(options: CoordinatorMachineOptions) {
    super();
    this.options = parseCoordinatorMachineOptions(options);
  }

  /** @internal */
  protected step(tx: CoordinatorTx | undefined, event: CoordinatorEvent): Step<CoordinatorTx> {
    return stepCoordinator(tx, event, this.options);
  }

  /** @internal */
  protected *recoverFrom(summary: LogSummary): Iterable<readonly [TxId, Step<CoordinatorTx>]> {
    const [stray] = summary.participant.keys();
    if (stray !== undefined) throw new InvalidLogError(stray, "participant records in a coordinator log");
    for (const [txId, state] of summary.coordinator) yield [txId, recoverCoordinatorTx(state, this.options)];
  }
}
