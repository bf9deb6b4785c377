import { ActionType, type TwopcAction } from "./actions.js";
import { InvalidLogError } from "./errors.js";
import { EventType, TimerName, type JoinEvent, type ParticipantEvent } from "./events.js";
import type { LogSummary, ParticipantLogState } from "./log-state.js";
import { TxMachine, type Step } from "./machine.js";
import { MessageType, type TwopcMessage, type VoteReqMessage } from "./messages.js";
import { Mutation } from "../sim/mutation.js";
import { parseParticipantMachineOptions, type ResolvedParticipantMachineOptions, type ParticipantMachineOptions } from "./options.js";
import { RecordType, type TwopcRecord } from "./records.js";
import { Decision, Vote, ParticipantPhase, type NodeId, type TxId } from "./types.js";
import {
  AbortProgress,
  isParticipantTxDone,
  type ParticipantAbortTx,
  type ParticipantCommitTx,
  type ParticipantInitTx,
  type ParticipantReadyTx,
  type ParticipantTx,
} from "./participant-state.js";

type Opts = ResolvedParticipantMachineOptions;

function stay(tx: ParticipantTx | undefined): Step<ParticipantTx> {
  return { tx, actions: [] };
}

function send(to: NodeId, type: Exclude<TwopcMessage["type"], "VOTE-REQ" | "DECISION">, txId: TxId, o: Opts): TwopcAction {
  return { type: ActionType.Send, to, msg: { type, txId, from: o.self } };
}

function tell(to: NodeId, decision: Decision, txId: TxId, o: Opts): TwopcAction {
  return { type: ActionType.Send, to, msg: { type: MessageType.Decision, txId, from: o.self, decision } };
}

function clearTimer(txId: TxId, timer: TimerName): TwopcAction {
  return { type: ActionType.ClearTimer, txId, timer };
}

interface AbortEntry {
  /** The abort came from the coordinator or a peer (see {@link ParticipantAbortTx.settled}). */
  readonly settled: boolean;
  /** `prepare` is running: call `abort` after it answers. */
  readonly preparing: boolean;
  /** Force WORKER-ABORT (before telling a peer). */
  readonly force: boolean;
  readonly waiting: readonly NodeId[];
}

function enterAbort(txId: TxId, coordinator: NodeId | undefined, entry: AbortEntry): Step<ParticipantTx> {
  const actions: TwopcAction[] = [{ type: ActionType.Append, record: { type: RecordType.WorkerAbort, txId }, force: entry.force }];
  if (!entry.preparing) actions.push({ type: ActionType.RmAbort, txId });
  const rm = entry.preparing ? AbortProgress.AwaitingPrepare : AbortProgress.Aborting;
  return {
    tx: { phase: ParticipantPhase.Abort, txId, coordinator, settled: entry.settled, forcing: entry.force, waiting: entry.waiting, rm },
    actions,
  };
}

function join(tx: ParticipantTx | undefined, event: JoinEvent, o: Opts): Step<ParticipantTx> {
  if (tx !== undefined) return stay(tx);
  const { txId, coordinator } = event;
  return {
    tx: { phase: ParticipantPhase.Init, txId, coordinator, participants: [], preparing: false, askers: [] },
    actions: [{ type: ActionType.SetTimer, txId, timer: TimerName.Join, ms: event.timeout ?? o.joinTimeout }],
  };
}

function onVoteReq(tx: ParticipantTx | undefined, msg: VoteReqMessage, o: Opts): Step<ParticipantTx> {
  if (!msg.participants.includes(o.self)) return stay(tx);
  const { txId } = msg;
  // 2PC: the participant waits in INIT for VOTE-REQ; on it, its resource manager decides
  // whether it is ready (prepare).
  const prepare: TwopcAction = { type: ActionType.RmPrepare, txId, payload: msg.payload };
  const init: ParticipantInitTx = { phase: ParticipantPhase.Init, txId, coordinator: msg.from, participants: msg.participants, preparing: true, askers: [] };
  if (tx === undefined) return { tx: init, actions: [prepare] };
  switch (tx.phase) {
    case ParticipantPhase.Init:
      return tx.preparing ? stay(tx) : { tx: init, actions: [clearTimer(txId, TimerName.Join), prepare] };
    // A duplicate VOTE-REQ gets the answer already given.
    case ParticipantPhase.Ready:
      if (tx.lost) return learnCoordinator(tx, msg, o);
      return tx.durable ? { tx, actions: [send(msg.from, MessageType.VoteCommit, txId, o)] } : stay(tx);
    case ParticipantPhase.Abort:
      return { tx, actions: [send(msg.from, MessageType.VoteAbort, txId, o)] };
    case ParticipantPhase.ReadOnly:
      return { tx, actions: [send(msg.from, MessageType.VoteReadOnly, txId, o)] };
    case ParticipantPhase.Commit:
      return stay(tx);
    default:
      throw new Error(`unhandled phase ${JSON.stringify(tx satisfies never)}`);
  }
}

/**
 * A `lost` transaction (WORKER-IN-DOUBT) hears from its coordinator: it learns whom to ask, and
 * asks at once. It never votes again: its first vote is unknown, and a VOTE-COMMIT now could break
 * a promise of abort it made to a peer before its records were cut. Silent, it lets a coordinator
 * still in WAIT time out and abort, which is safe either way.
 */
function learnCoordinator(tx: ParticipantReadyTx, msg: VoteReqMessage, o: Opts): Step<ParticipantTx> {
  const participants = tx.participants.length > 0 ? tx.participants : msg.participants;
  if (tx.coordinator !== undefined) return stay({ ...tx, participants });
  return ask({ ...tx, coordinator: msg.from, participants, askedCoordinator: false }, o);
}

function readyDurable(tx: ParticipantReadyTx & { coordinator: NodeId }, o: Opts): Step<ParticipantTx> {
  const { txId } = tx;
  const actions: TwopcAction[] = [send(tx.coordinator, MessageType.VoteCommit, txId, o)];
  if (o.mutation !== Mutation.ParticipantNeverAsks) actions.push({ type: ActionType.SetTimer, txId, timer: TimerName.Ask, ms: o.askAfter });
  return { tx: { ...tx, durable: true }, actions };
}

function onPrepared(tx: ParticipantTx | undefined, vote: Vote, o: Opts, reason?: string): Step<ParticipantTx> {
  if (tx?.phase === ParticipantPhase.Abort && tx.rm === AbortProgress.AwaitingPrepare) {
    // The abort was decided while prepare ran; the resource manager hears it now.
    return { tx: { ...tx, rm: AbortProgress.Aborting }, actions: [{ type: ActionType.RmAbort, txId: tx.txId }] };
  }
  if (tx?.phase !== ParticipantPhase.Init || !tx.preparing) return stay(tx);
  const { txId, coordinator, participants, askers } = tx;
  switch (vote) {
    case Vote.Commit: {
      // Cooperative termination: a peer asked before this participant voted, so it may still abort
      // and tell the asker. (It cannot have voted commit before a crash: READY would be logged.)
      if (askers.length > 0) return peerAbort(txId, coordinator, askers, o);
      // 2PC: "Participants record promise in log, then acknowledge": WORKER-READY is
      // forced, and VOTE-COMMIT goes out only on its durable event.
      const ready = { phase: ParticipantPhase.Ready, txId, coordinator, participants, durable: false, askedCoordinator: false, lost: false } as const;
      const force = o.mutation !== Mutation.ParticipantVotesBeforeForce;
      const append: TwopcAction = { type: ActionType.Append, record: { type: RecordType.WorkerReady, txId, coordinator, participants }, force };
      if (force) return { tx: ready, actions: [append] };
      const early = readyDurable(ready, o);
      return { tx: early.tx, actions: [append, ...early.actions] };
    }
    case Vote.Abort: {
      // 2PC: "If not ready, send VOTE-ABORT to coordinator, and immediately abort".
      // Presumed abort: WORKER-ABORT is not forced, unless peers are waiting to be told.
      if (askers.length > 0) return peerAbort(txId, coordinator, askers, o);
      const step = enterAbort(txId, coordinator, { settled: false, preparing: false, force: false, waiting: [] });
      const voteAbort: TwopcAction = {
        type: ActionType.Send,
        to: coordinator,
        msg: { type: MessageType.VoteAbort, txId, from: o.self, ...(reason === undefined ? {} : { reason }) },
      };
      return { tx: step.tx, actions: [voteAbort, ...step.actions] };
    }
    case Vote.ReadOnly:
      // Read-only optimisation: nothing to commit here; the participant answers and leaves phase 2
      // (no record, no GLOBAL-* to it, no ACK from it). Peers that asked are told nothing: this
      // vote may repeat one given before a crash, so the coordinator may already have committed.
      return { tx: { phase: ParticipantPhase.ReadOnly, txId, coordinator }, actions: [send(coordinator, MessageType.VoteReadOnly, txId, o)] };
    default:
      throw new Error(`unhandled vote ${String(vote satisfies never)}`);
  }
}

/**
 * Cooperative termination: a participant that has not voted aborts, so the coordinator can never
 * commit, and tells the asking peers ABORT once WORKER-ABORT is durable (the answer is a
 * promise: a crash must not let this participant vote commit later). The coordinator hears VOTE-ABORT.
 */
function peerAbort(txId: TxId, coordinator: NodeId, askers: readonly NodeId[], o: Opts): Step<ParticipantTx> {
  const vote = send(coordinator, MessageType.VoteAbort, txId, o);
  if (o.mutation === Mutation.PeerAbortsUnforced) {
    const step = enterAbort(txId, coordinator, { settled: true, preparing: false, force: false, waiting: [] });
    return { tx: step.tx, actions: [...step.actions, ...askers.map((p) => tell(p, Decision.Abort, txId, o)), vote] };
  }
  const step = enterAbort(txId, coordinator, { settled: false, preparing: false, force: true, waiting: askers });
  return { tx: step.tx, actions: [...step.actions, vote] };
}

function onApplied(tx: ParticipantTx | undefined, decision: Decision, o: Opts): Step<ParticipantTx> {
  if (tx === undefined) return stay(tx);
  // The resource manager is done: END, not forced (if lost, recovery re-applies, idempotently).
  const end: TwopcAction = { type: ActionType.Append, record: { type: RecordType.WorkerEnd, txId: tx.txId }, force: false };
  if (tx.phase === ParticipantPhase.Commit && tx.durable && !tx.applied && decision === Decision.Commit) {
    // The ACK goes out only now that the commit is applied: once every ACK is in, the coordinator
    // forgets the transaction (and would answer a question about it "abort", presumed). So while
    // this resource manager holds the transaction prepared, its coordinator still knows it
    // committed, which a participant whose log records were cut (WORKER-IN-DOUBT) relies on.
    const ack = tx.coordinator === undefined ? [] : [send(tx.coordinator, MessageType.Ack, tx.txId, o)];
    return { tx: { ...tx, applied: true }, actions: [end, ...ack] };
  }
  if (tx.phase === ParticipantPhase.Abort && tx.rm === AbortProgress.Aborting && decision === Decision.Abort) {
    return { tx: { ...tx, rm: AbortProgress.Aborted }, actions: [end] };
  }
  return stay(tx);
}

function onCommitDecision(tx: ParticipantTx | undefined, msg: TwopcMessage, o: Opts): Step<ParticipantTx> {
  const fromCoordinator = msg.type === MessageType.GlobalCommit;
  if (tx === undefined) {
    // Unknown here yet told to commit: WORKER-READY was forced before the vote and compaction
    // keeps live transactions, so this one finished and was forgotten. ACK it again.
    return fromCoordinator ? { tx, actions: [send(msg.from, MessageType.Ack, msg.txId, o)] } : stay(tx);
  }
  if (tx.phase === ParticipantPhase.Ready && tx.durable) {
    // 2PC: "If receive GLOBAL-COMMIT then commit" — WORKER-COMMIT is forced, and the
    // resource manager commits on its durable event (then the ACK goes out). A peer's DECISION
    // commit counts the same.
    const { txId } = tx;
    const coordinator = tx.coordinator ?? (fromCoordinator ? msg.from : undefined);
    return {
      tx: { phase: ParticipantPhase.Commit, txId, coordinator, durable: false, applied: false },
      actions: [clearTimer(txId, TimerName.Ask), { type: ActionType.Append, record: { type: RecordType.WorkerCommit, txId }, force: true }],
    };
  }
  // A resent GLOBAL-COMMIT means the ACK was lost: ACK again (once applied; until then the ACK is
  // still to come).
  if (tx.phase === ParticipantPhase.Commit && tx.applied && fromCoordinator) return { tx, actions: [send(msg.from, MessageType.Ack, tx.txId, o)] };
  if (tx.phase === ParticipantPhase.Commit && tx.coordinator === undefined && fromCoordinator) return stay({ ...tx, coordinator: msg.from });
  return stay(tx);
}

function onAbortDecision(tx: ParticipantTx | undefined, o: Opts): Step<ParticipantTx> {
  if (tx === undefined) return stay(tx); // nothing to undo; a late VOTE-REQ will learn it again
  const { txId } = tx;
  switch (tx.phase) {
    case ParticipantPhase.Init: {
      // 2PC: "If receive GLOBAL-ABORT then abort" (here even before voting).
      const step = enterAbort(txId, tx.coordinator, { settled: true, preparing: tx.preparing, force: false, waiting: [] });
      return { tx: step.tx, actions: [clearTimer(txId, TimerName.Join), ...step.actions] };
    }
    case ParticipantPhase.Ready: {
      // 2PC: "If receive GLOBAL-ABORT then abort". Presumed abort: not forced.
      const step = enterAbort(txId, tx.coordinator, { settled: true, preparing: false, force: false, waiting: [] });
      return { tx: step.tx, actions: [clearTimer(txId, TimerName.Ask), ...step.actions] };
    }
    case ParticipantPhase.Abort:
      if (tx.settled) return stay(tx);
      return { tx: { ...tx, settled: true, waiting: [] }, actions: tx.waiting.map((p) => tell(p, Decision.Abort, txId, o)) };
    case ParticipantPhase.Commit:
    case ParticipantPhase.ReadOnly:
      return stay(tx);
    default:
      throw new Error(`unhandled phase ${JSON.stringify(tx satisfies never)}`);
  }
}

function onDecisionReq(tx: ParticipantTx | undefined, from: NodeId, o: Opts): Step<ParticipantTx> {
  // Cooperative termination: a blocked peer asks; a participant that knows the outcome tells it. One
  // that knows nothing (READY, read-only, or forgotten) must stay silent: it may have voted.
  if (tx === undefined) return stay(tx);
  const { txId } = tx;
  switch (tx.phase) {
    case ParticipantPhase.Commit:
      return { tx, actions: [tell(from, Decision.Commit, txId, o)] };
    case ParticipantPhase.Abort: {
      if (tx.settled) return { tx, actions: [tell(from, Decision.Abort, txId, o)] };
      // This participant's own abort becomes a promise once told, so WORKER-ABORT is forced first;
      // otherwise a crash could let it vote commit later while the peer has aborted.
      const waiting = tx.waiting.includes(from) ? tx.waiting : [...tx.waiting, from];
      if (tx.forcing) return stay({ ...tx, waiting });
      return { tx: { ...tx, waiting, forcing: true }, actions: [{ type: ActionType.Append, record: { type: RecordType.WorkerAbort, txId }, force: true }] };
    }
    case ParticipantPhase.Init: {
      // Whether a preparing participant may abort depends on its resource manager's vote: answered
      // in onPrepared.
      if (tx.preparing) return stay(tx.askers.includes(from) ? tx : { ...tx, askers: [...tx.askers, from] });
      // Joined but no VOTE-REQ yet: it has not voted (join is fed once, before any vote).
      const step = peerAbort(txId, tx.coordinator, [from], o);
      return { tx: step.tx, actions: [clearTimer(txId, TimerName.Join), ...step.actions] };
    }
    case ParticipantPhase.Ready:
    case ParticipantPhase.ReadOnly:
      return stay(tx);
    default:
      throw new Error(`unhandled phase ${JSON.stringify(tx satisfies never)}`);
  }
}

function receive(tx: ParticipantTx | undefined, msg: TwopcMessage, o: Opts): Step<ParticipantTx> {
  switch (msg.type) {
    case MessageType.VoteReq:
      return onVoteReq(tx, msg, o);
    case MessageType.GlobalCommit:
      return onCommitDecision(tx, msg, o);
    case MessageType.GlobalAbort:
      return onAbortDecision(tx, o);
    case MessageType.Decision:
      if (tx?.phase !== ParticipantPhase.Ready || !tx.durable) return stay(tx);
      return msg.decision === Decision.Commit ? onCommitDecision(tx, msg, o) : onAbortDecision(tx, o);
    case MessageType.DecisionReq:
      return onDecisionReq(tx, msg.from, o);
    case MessageType.VoteCommit:
    case MessageType.VoteAbort:
    case MessageType.VoteReadOnly:
    case MessageType.Ack:
      return stay(tx); // coordinator-bound: misrouted, ignored
    default:
      throw new Error(`unhandled message ${JSON.stringify(msg satisfies never)}`);
  }
}

function ask(tx: ParticipantReadyTx, o: Opts): Step<ParticipantTx> {
  const { txId } = tx;
  // A lost transaction whose coordinator is not known yet waits for it to send something.
  if (tx.coordinator === undefined) return stay(tx);
  // 2PC: "If coordinator fails, participants must BLOCK waiting for coordinator to recover":
  // the participant blocks, asking the coordinator; from the second ask on, its peers too
  // (cooperative termination).
  const actions: TwopcAction[] = [send(tx.coordinator, MessageType.DecisionReq, txId, o)];
  if (tx.askedCoordinator) {
    for (const peer of tx.participants) if (peer !== o.self) actions.push(send(peer, MessageType.DecisionReq, txId, o));
  }
  actions.push({ type: ActionType.SetTimer, txId, timer: TimerName.Ask, ms: o.askInterval });
  return { tx: { ...tx, askedCoordinator: true }, actions };
}

function timeout(tx: ParticipantTx | undefined, timer: TimerName, o: Opts): Step<ParticipantTx> {
  switch (timer) {
    case TimerName.Join:
      // 2PC: "Participant waits for VOTE-REQ in INIT — participant can time out and abort
      // (coordinator handles it)".
      if (tx?.phase !== ParticipantPhase.Init || tx.preparing) return stay(tx);
      return enterAbort(tx.txId, tx.coordinator, { settled: false, preparing: false, force: false, waiting: [] });
    case TimerName.Ask:
      return tx?.phase === ParticipantPhase.Ready && tx.durable ? ask(tx, o) : stay(tx);
    case TimerName.Forget:
      return tx !== undefined && isParticipantTxDone(tx) ? stay(undefined) : stay(tx);
    case TimerName.Vote:
    case TimerName.Resend:
      return stay(tx); // coordinator timers
    default:
      throw new Error(`unhandled timer ${String(timer satisfies never)}`);
  }
}

function durable(tx: ParticipantTx | undefined, record: TwopcRecord, o: Opts): Step<ParticipantTx> {
  if (record.type === RecordType.WorkerReady && tx?.phase === ParticipantPhase.Ready && !tx.durable && tx.coordinator !== undefined) {
    return readyDurable({ ...tx, coordinator: tx.coordinator }, o);
  }
  if (record.type === RecordType.WorkerCommit && tx?.phase === ParticipantPhase.Commit && !tx.durable) {
    // 2PC: the participant commits now that its COMMIT is durable, and responds with ACK once
    // its resource manager has (onApplied).
    return { tx: { ...tx, durable: true }, actions: [{ type: ActionType.RmCommit, txId: tx.txId }] };
  }
  if (record.type === RecordType.WorkerAbort && tx?.phase === ParticipantPhase.Abort && tx.forcing) {
    return { tx: { ...tx, forcing: false, settled: true, waiting: [] }, actions: tx.waiting.map((p) => tell(p, Decision.Abort, tx.txId, o)) };
  }
  return stay(tx);
}

function stepInner(tx: ParticipantTx | undefined, event: ParticipantEvent, o: Opts): Step<ParticipantTx> {
  switch (event.type) {
    case EventType.Join:
      return join(tx, event, o);
    case EventType.Receive:
      return receive(tx, event.msg, o);
    case EventType.Timeout:
      return timeout(tx, event.timer, o);
    case EventType.Durable:
      return durable(tx, event.record, o);
    case EventType.Prepared:
      return onPrepared(tx, event.vote, o, event.reason);
    case EventType.Applied:
      return onApplied(tx, event.decision, o);
    default:
      throw new Error(`unhandled event ${JSON.stringify(event satisfies never)}`);
  }
}

/** Arms the `forget` timer when a transaction has just finished. */
function rememberFinished(before: ParticipantTx | undefined, step: Step<ParticipantTx>, o: Opts): Step<ParticipantTx> {
  const { tx } = step;
  if (tx === undefined || !isParticipantTxDone(tx) || (before !== undefined && isParticipantTxDone(before))) return step;
  if (o.rememberFor === Infinity) return step;
  return { tx, actions: [...step.actions, { type: ActionType.SetTimer, txId: tx.txId, timer: TimerName.Forget, ms: o.rememberFor }] };
}

/** The participant's transition for one transaction: pure, no I/O. */
export function stepParticipant(tx: ParticipantTx | undefined, event: ParticipantEvent, o: Opts): Step<ParticipantTx> {
  return rememberFinished(tx, stepInner(tx, event, o), o);
}

function recoverInner(state: ParticipantLogState, o: Opts): Step<ParticipantTx> {
  const { txId, coordinator } = state;
  switch (state.phase) {
    case ParticipantPhase.Ready: {
      if (state.lost) {
        // Its log cannot prove it did not vote commit: held in doubt, never presumed aborted.
        const tx: ParticipantReadyTx = { phase: ParticipantPhase.Ready, txId, coordinator: o.coordinator, participants: [], durable: true, askedCoordinator: false, lost: true };
        return o.mutation === Mutation.ParticipantNeverAsks ? stay(tx) : ask(tx, o);
      }
      if (coordinator === undefined) throw new InvalidLogError(txId, "READY without a coordinator");
      // 2PC recovery (docs/protocol.md): participant "asks" Coordinator in READY.
      const tx: ParticipantReadyTx = { phase: ParticipantPhase.Ready, txId, coordinator, participants: state.participants, durable: true, askedCoordinator: true, lost: false };
      if (o.mutation === Mutation.ParticipantNeverAsks) return stay(tx);
      return {
        tx,
        actions: [send(coordinator, MessageType.DecisionReq, txId, o), { type: ActionType.SetTimer, txId, timer: TimerName.Ask, ms: o.askInterval }],
      };
    }
    case ParticipantPhase.Commit: {
      if (coordinator === undefined && !state.lost) throw new InvalidLogError(txId, "COMMIT without a coordinator");
      const tx: ParticipantCommitTx = { phase: ParticipantPhase.Commit, txId, coordinator: coordinator ?? o.coordinator, durable: true, applied: state.ended };
      if (state.ended) return stay(tx);
      // 2PC recovery (docs/protocol.md): "Participant commits in COMMIT" — applied again (idempotent),
      // then ACKed again in case the ACK was lost.
      return { tx, actions: [{ type: ActionType.RmCommit, txId }] };
    }
    case ParticipantPhase.Abort: {
      const tx: ParticipantAbortTx = { phase: ParticipantPhase.Abort, txId, coordinator, settled: true, forcing: false, waiting: [], rm: AbortProgress.Aborted };
      if (state.ended) return stay(tx);
      // 2PC recovery (docs/protocol.md): "Participant aborts in INIT, ABORT" — rolled back again (idempotent).
      // INIT leaves no record at all: presumed abort.
      return { tx: { ...tx, rm: AbortProgress.Aborting }, actions: [{ type: ActionType.RmAbort, txId }] };
    }
    default:
      throw new Error(`unhandled phase ${String(state.phase satisfies never)}`);
  }
}

/** What a restarted participant does with one transaction found in its log. */
export function recoverParticipantTx(state: ParticipantLogState, o: Opts): Step<ParticipantTx> {
  return rememberFinished(undefined, recoverInner(state, o), o);
}

/**
 * What a restarted participant does with a transaction its resource manager holds prepared but its
 * log does not know: it crashed before WORKER-READY was durable, so it never voted commit.
 */
export function recoverUnloggedPrepared(txId: TxId): Step<ParticipantTx> {
  // 2PC recovery (docs/protocol.md): "Participant aborts in INIT" — presumed abort; the resource manager's
  // prepared work is rolled back.
  return enterAbort(txId, undefined, { settled: false, preparing: false, force: false, waiting: [] });
}

/**
 * The 2PC participant (participant): one state per transaction, many transactions in flight.
 * See `machine.ts` for how a driver executes its actions.
 *
 * @example
 * const participant = new ParticipantMachine({ self: "w1@tcp://10.0.0.2:7001" })
 * run(participant.recover(records))
 * run(participant.handle({ type: "receive", msg }))
 */
export class ParticipantMachine extends TxMachine<ParticipantTx, ParticipantEvent> {
  readonly options: ResolvedParticipantMachineOptions;

  /** @throws {TypeError} when an option is invalid. */
  constructor(options: ParticipantMachineOptions) {
    super();
    this.options = parseParticipantMachineOptions(options);
  }

  /**
   * Rebuilds state from the log and returns what must be redone (see `TxMachine.recover`).
   * `preparedByResourceManager` lists the transactions the resource manager holds prepared
   * (its recover hook); those the log does not know are rolled back.
   *
   * @example
   * run(participant.recover(records, await resourceManager.recover()))
   */
  override recover(records: readonly unknown[], preparedByResourceManager: readonly TxId[] = []): TwopcAction[] {
    const actions = super.recover(records);
    for (const txId of preparedByResourceManager) {
      if (!this.retains(txId)) actions.push(...this.adopt(txId, recoverUnloggedPrepared(txId)));
    }
    return actions;
  }

  /** Transactions blocked in READY: promised to commit, outcome unknown here. */
  inDoubt(): ParticipantReadyTx[] {
    const out: ParticipantReadyTx[] = [];
    for (const tx of this.transactions()) if (tx.phase === ParticipantPhase.Ready) out.push(tx);
    return out;
  }

  /** @internal */
  protected step(tx: ParticipantTx | undefined, event: ParticipantEvent): Step<ParticipantTx> {
    return stepParticipant(tx, event, this.options);
  }

  /** @internal */
  protected *recoverFrom(summary: LogSummary): Iterable<readonly [TxId, Step<ParticipantTx>]> {
    const [stray] = summary.coordinator.keys();
    if (stray !== undefined) throw new InvalidLogError(stray, "coordinator records in a participant log");
    for (const [txId, state] of summary.participant) yield [txId, recoverParticipantTx(state, this.options)];
  }
}
