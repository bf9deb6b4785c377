import t from "tap";
import type { TwopcAction } from "../src/protocol/actions.js";
import { CoordinatorMachine } from "../src/protocol/coordinator.js";
import type { TwopcMessage } from "../src/protocol/messages.js";
import { isTwopcMessage } from "../src/protocol/messages.js";
import type { CoordinatorMachineOptions, ParticipantMachineOptions } from "../src/protocol/options.js";
import type { TwopcRecord } from "../src/protocol/records.js";
import { ParticipantMachine } from "../src/protocol/participant.js";

const coordinator = (options: Partial<CoordinatorMachineOptions> = {}, records: TwopcRecord[] = []): { c: CoordinatorMachine; recovered: TwopcAction[] } => {
  const c = new CoordinatorMachine({ self: "c", voteTimeout: 100, resendInterval: 50, ...options });
  return { c, recovered: c.recover(records) };
};
const participant = (self = "w1", options: Partial<ParticipantMachineOptions> = {}, records: TwopcRecord[] = []): { w: ParticipantMachine; recovered: TwopcAction[] } => {
  const w = new ParticipantMachine({ self, askAfter: 40, askInterval: 30, joinTimeout: 200, rememberFor: 1000, ...options });
  return { w, recovered: w.recover(records) };
};

/** Compact view of actions: "send w1 VOTE-REQ", "append! WORKER-READY" (! = forced), ... */
function show(actions: readonly TwopcAction[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case "append":
        return `append${a.force ? "!" : ""} ${a.record.type}`;
      case "send":
        return `send ${a.to} ${a.msg.type}${a.msg.type === "DECISION" ? ` ${a.msg.decision}` : ""}`;
      case "set-timer":
        return `set-timer ${a.timer} ${a.ms}`;
      case "clear-timer":
        return `clear-timer ${a.timer}`;
      case "rm-prepare":
      case "rm-commit":
      case "rm-abort":
        return a.type;
      case "outcome":
        return `outcome ${a.committed ? "committed" : "aborted"} ${a.reason}${a.by === undefined ? "" : ` by ${a.by}`}`;
      default:
        throw new Error(`unhandled ${JSON.stringify(a satisfies never)}`);
    }
  });
}

const msg = (type: Exclude<TwopcMessage["type"], "VOTE-REQ" | "DECISION">, from: string, txId = "t1"): TwopcMessage => ({ type, txId, from });
const voteReq = (participants = ["w1", "w2"], txId = "t1"): TwopcMessage => ({ type: "VOTE-REQ", txId, from: "c", participants, payload: { op: "debit" } });
const decision = (d: "commit" | "abort", from: string, txId = "t1"): TwopcMessage => ({ type: "DECISION", txId, from, decision: d });
const recv = (m: CoordinatorMachine | ParticipantMachine, message: TwopcMessage): TwopcAction[] =>
  m instanceof CoordinatorMachine ? m.handle({ type: "receive", msg: message }) : m.handle({ type: "receive", msg: message });

function beginT1(c: CoordinatorMachine, participants = ["w1", "w2"]): TwopcAction[] {
  return c.handle({ type: "begin", txId: "t1", participants, payload: { op: "debit" } });
}

/** A coordinator with t1 in COMMIT, COORD-COMMIT not yet durable. */
function deciding(): CoordinatorMachine {
  const { c } = coordinator();
  beginT1(c);
  recv(c, msg("VOTE-COMMIT", "w1"));
  recv(c, msg("VOTE-COMMIT", "w2"));
  return c;
}

/** A participant with t1 in READY, WORKER-READY durable. */
function ready(self = "w1", options: Partial<ParticipantMachineOptions> = {}): ParticipantMachine {
  const { w } = participant(self, options);
  recv(w, voteReq());
  w.handle({ type: "prepared", txId: "t1", vote: "commit" });
  w.handle({ type: "durable", record: { type: "WORKER-READY", txId: "t1", coordinator: "c", participants: ["w1", "w2"] } });
  return w;
}

t.test("coordinator - begin logs START unforced, sends VOTE-REQ with the participants, arms the vote timer", async (t) => {
  const { c } = coordinator();
  const actions = beginT1(c);
  t.same(show(actions), ["append COORD-START", "send w1 VOTE-REQ", "send w2 VOTE-REQ", "set-timer vote 100"]);
  t.match(actions[1], { msg: { participants: ["w1", "w2"], payload: { op: "debit" } } });
  t.equal(c.get("t1")?.phase, "WAIT");
});

t.test("coordinator - forces COMMIT and sends nothing until it is durable", async (t) => {
  const { c } = coordinator();
  beginT1(c);
  t.same(show(recv(c, msg("VOTE-COMMIT", "w1"))), []);
  t.same(show(recv(c, msg("VOTE-COMMIT", "w2"))), ["clear-timer vote", "append! COORD-COMMIT"]);
  t.match(c.get("t1"), { phase: "COMMIT", durable: false });
});

t.test("coordinator - GLOBAL-COMMIT and the commit outcome only on the durable event", async (t) => {
  const c = deciding();
  const actions = c.handle({ type: "durable", record: { type: "COORD-COMMIT", txId: "t1", participants: ["w1", "w2"] } });
  t.same(show(actions), ["send w1 GLOBAL-COMMIT", "send w2 GLOBAL-COMMIT", "set-timer resend 50", "outcome committed all-voted-commit"]);
  t.same(show(c.handle({ type: "durable", record: { type: "COORD-COMMIT", txId: "t1", participants: ["w1", "w2"] } })), [], "a repeated durable event is ignored");
});

t.test("coordinator - a VOTE-ABORT aborts: unforced ABORT, GLOBAL-ABORT to the others, transaction forgotten", async (t) => {
  const { c } = coordinator();
  c.handle({ type: "begin", txId: "t1", participants: ["w1", "w2", "w3"] });
  recv(c, msg("VOTE-READONLY", "w3"));
  const actions = recv(c, msg("VOTE-ABORT", "w1"));
  t.same(show(actions), ["clear-timer vote", "append COORD-ABORT", "send w2 GLOBAL-ABORT", "outcome aborted voted-abort by w1"], "not to the aborter, not to the read-only voter");
  t.equal(c.get("t1"), undefined, "presumed abort: nothing to remember");
});

t.test("coordinator - vote timeout in WAIT sends GLOBAL-ABORT", async (t) => {
  const { c } = coordinator();
  beginT1(c);
  recv(c, msg("VOTE-COMMIT", "w1"));
  t.same(show(c.handle({ type: "timeout", txId: "t1", timer: "vote" })), [
    "clear-timer vote",
    "append COORD-ABORT",
    "send w1 GLOBAL-ABORT",
    "send w2 GLOBAL-ABORT",
    "outcome aborted vote-timeout",
  ]);
  t.same(show(c.handle({ type: "timeout", txId: "t1", timer: "vote" })), [], "a stale firing is harmless");
});

t.test("coordinator - read-only voters leave phase 2: no GLOBAL-COMMIT to them, no ACK awaited", async (t) => {
  const { c } = coordinator();
  beginT1(c);
  recv(c, msg("VOTE-READONLY", "w1"));
  t.same(show(recv(c, msg("VOTE-COMMIT", "w2"))), ["clear-timer vote", "append! COORD-COMMIT"]);
  const actions = c.handle({ type: "durable", record: { type: "COORD-COMMIT", txId: "t1", participants: ["w2"] } });
  t.same(show(actions).filter((a) => a.startsWith("send")), ["send w2 GLOBAL-COMMIT"]);
  t.same(show(recv(c, msg("ACK", "w2"))), ["clear-timer resend", "append COORD-END"], "w2's ACK is the last one needed");
});

t.test("coordinator - all read-only: no phase 2; committed once END is durable", async (t) => {
  const { c } = coordinator();
  beginT1(c);
  recv(c, msg("VOTE-READONLY", "w1"));
  t.same(show(recv(c, msg("VOTE-READONLY", "w2"))), ["clear-timer vote", "append! COORD-END"]);
  t.same(show(c.handle({ type: "durable", record: { type: "COORD-END", txId: "t1" } })), ["outcome committed all-read-only"]);
  t.equal(c.size, 0);
});

t.test("coordinator - resends GLOBAL-COMMIT to participants that have not ACKed until all ACK, then END unforced", async (t) => {
  const c = deciding();
  c.handle({ type: "durable", record: { type: "COORD-COMMIT", txId: "t1", participants: ["w1", "w2"] } });
  t.same(show(recv(c, msg("ACK", "w1"))), []);
  t.same(show(c.handle({ type: "timeout", txId: "t1", timer: "resend" })), ["send w2 GLOBAL-COMMIT", "set-timer resend 50"]);
  t.same(show(recv(c, msg("ACK", "w2"))), ["clear-timer resend", "append COORD-END"]);
  t.equal(c.get("t1"), undefined);
});

t.test("coordinator - duplicate votes and ACKs are idempotent; strangers are ignored", async (t) => {
  const { c } = coordinator();
  beginT1(c);
  recv(c, msg("VOTE-COMMIT", "w1"));
  t.same(show(recv(c, msg("VOTE-COMMIT", "w1"))), [], "the same vote twice counts once");
  t.same(show(recv(c, msg("VOTE-COMMIT", "mallory"))), [], "a non-participant's vote is ignored");
  t.same(show(recv(c, msg("VOTE-ABORT", "mallory"))), []);
  t.match(c.get("t1"), { phase: "WAIT", committed: ["w1"] });
  recv(c, msg("VOTE-COMMIT", "w2"));
  c.handle({ type: "durable", record: { type: "COORD-COMMIT", txId: "t1", participants: ["w1", "w2"] } });
  recv(c, msg("ACK", "w1"));
  t.same(show(recv(c, msg("ACK", "w1"))), [], "a duplicate ACK changes nothing");
  t.same(show(recv(c, msg("VOTE-ABORT", "w2"))), [], "a late VOTE-ABORT cannot undo a commit");
  t.match(c.get("t1"), { awaitingAck: ["w2"] });
});

t.test("coordinator - presumed abort: an unknown transaction's DECISION-REQ gets ABORT, its VOTE-COMMIT GLOBAL-ABORT", async (t) => {
  const { c } = coordinator();
  t.same(show(recv(c, msg("DECISION-REQ", "w1", "ghost"))), ["send w1 DECISION abort"]);
  t.same(show(recv(c, msg("VOTE-COMMIT", "w1", "ghost"))), ["send w1 GLOBAL-ABORT"]);
  t.same(show(recv(c, msg("VOTE-READONLY", "w1", "ghost"))), []);
  t.same(show(recv(c, msg("ACK", "w1", "ghost"))), []);
});

t.test("coordinator - a DECISION-REQ is answered only once COMMIT is durable", async (t) => {
  const { c } = coordinator();
  beginT1(c);
  t.same(show(recv(c, msg("DECISION-REQ", "w1"))), [], "undecided in WAIT");
  recv(c, msg("VOTE-COMMIT", "w1"));
  recv(c, msg("VOTE-COMMIT", "w2"));
  t.same(show(recv(c, msg("DECISION-REQ", "w1"))), [], "COMMIT not yet durable: a crash now would abort");
  c.handle({ type: "durable", record: { type: "COORD-COMMIT", txId: "t1", participants: ["w1", "w2"] } });
  t.same(show(recv(c, msg("DECISION-REQ", "w1"))), ["send w1 DECISION commit"]);
});

t.test("coordinator - recovery: START only (INIT/WAIT) aborts and tells everyone", async (t) => {
  const { c, recovered } = coordinator({}, [{ type: "COORD-START", txId: "t1", participants: ["w1", "w2"] }]);
  t.same(show(recovered), ["clear-timer vote", "append COORD-ABORT", "send w1 GLOBAL-ABORT", "send w2 GLOBAL-ABORT", "outcome aborted recovered-in-wait"]);
  t.equal(c.size, 0);
});

t.test("coordinator - recovery: COMMIT without END resends GLOBAL-COMMIT and waits for ACKs", async (t) => {
  const { c, recovered } = coordinator({}, [
    { type: "COORD-START", txId: "t1", participants: ["w1", "w2", "w3"] },
    { type: "COORD-COMMIT", txId: "t1", participants: ["w1", "w2"] },
  ]);
  t.same(show(recovered), ["send w1 GLOBAL-COMMIT", "send w2 GLOBAL-COMMIT", "set-timer resend 50", "outcome committed recovered-in-commit"]);
  t.match(c.get("t1"), { phase: "COMMIT", durable: true, awaitingAck: ["w1", "w2"] });
});

t.test("coordinator - recovery: ABORT or END needs nothing", async (t) => {
  const { c, recovered } = coordinator({}, [
    { type: "COORD-START", txId: "a", participants: ["w1"] },
    { type: "COORD-ABORT", txId: "a" },
    { type: "COORD-START", txId: "b", participants: ["w1"] },
    { type: "COORD-COMMIT", txId: "b", participants: ["w1"] },
    { type: "COORD-END", txId: "b" },
    { type: "COORD-END", txId: "compacted-away" },
  ]);
  t.same(recovered, []);
  t.equal(c.size, 0);
});

t.test("coordinator - many transactions in flight are independent", async (t) => {
  const { c } = coordinator();
  for (const txId of ["a", "b", "c"]) c.handle({ type: "begin", txId, participants: ["w1"] });
  recv(c, msg("VOTE-ABORT", "w1", "b"));
  t.same(show(recv(c, msg("VOTE-COMMIT", "w1", "c"))), ["clear-timer vote", "append! COORD-COMMIT"]);
  t.same(
    [...c.transactions()].map((tx) => `${tx.txId}:${tx.phase}`),
    ["a:WAIT", "c:COMMIT"],
  );
});

t.test("coordinator - begin rejects a reused id and bad participant lists; options are checked", async (t) => {
  const { c } = coordinator();
  beginT1(c);
  t.throws(() => beginT1(c), { code: "ERR_TX_ID_IN_USE" });
  t.throws(() => c.handle({ type: "begin", txId: "x", participants: [] }), { code: "ERR_INVALID_PARTICIPANTS" });
  t.throws(() => c.handle({ type: "begin", txId: "x", participants: ["w1", "w1"] }), { code: "ERR_INVALID_PARTICIPANTS" });
  t.throws(() => c.handle({ type: "begin", txId: "x", participants: ["c"] }), { code: "ERR_INVALID_PARTICIPANTS" });
  t.throws(() => c.handle({ type: "begin", txId: "x", participants: ["w1"], timeout: -1 }), TypeError);
  t.throws(() => new CoordinatorMachine({ self: "c", voteTimeout: 0 }), { message: "Expected `voteTimeout` to be a number of milliseconds above 0, got `0` (number)" });
  t.throws(() => new ParticipantMachine({ self: "" }), { message: /`self`/ });
});

t.test("machine - events before recover() and a second recover() are refused", async (t) => {
  const c = new CoordinatorMachine({ self: "c" });
  t.throws(() => beginT1(c), { code: "ERR_NOT_RECOVERED" });
  c.recover([]);
  t.throws(() => c.recover([]), { code: "ERR_ALREADY_RECOVERED" });
  t.throws(() => new ParticipantMachine({ self: "w" }).recover([{ type: "COORD-START", txId: "t", participants: ["w"] }]), { code: "ERR_INVALID_LOG" });
  t.throws(() => new ParticipantMachine({ self: "w" }).recover([{ type: "nonsense" }]), { code: "ERR_INVALID_LOG" });
  t.throws(() => new CoordinatorMachine({ self: "c" }).recover([{ type: "COORD-COMMIT", txId: "t", participants: [] }, { type: "COORD-ABORT", txId: "t" }]), {
    code: "ERR_INVALID_LOG",
  });
});

t.test("participant - VOTE-REQ asks the resource manager to prepare, once", async (t) => {
  const { w } = participant();
  const actions = recv(w, voteReq());
  t.same(actions, [{ type: "rm-prepare", txId: "t1", payload: { op: "debit" } }]);
  t.same(show(recv(w, voteReq())), [], "a duplicate while preparing does nothing");
  t.same(show(recv(w, voteReq(["w2", "w3"], "t2"))), [], "a VOTE-REQ that does not name this participant is ignored");
});

t.test("participant - forces READY before VOTE-COMMIT", async (t) => {
  const { w } = participant();
  recv(w, voteReq());
  const actions = w.handle({ type: "prepared", txId: "t1", vote: "commit" });
  t.same(show(actions), ["append! WORKER-READY"], "no vote leaves before the promise is durable");
  t.match(actions[0], { record: { coordinator: "c", participants: ["w1", "w2"] } });
  t.same(show(w.handle({ type: "durable", record: { type: "WORKER-READY", txId: "t1", coordinator: "c", participants: ["w1", "w2"] } })), ["send c VOTE-COMMIT", "set-timer ask 40"]);
});

t.test("participant - votes abort: VOTE-ABORT, unforced ABORT, rolls back; later VOTE-REQs get VOTE-ABORT", async (t) => {
  const { w } = participant();
  recv(w, voteReq());
  t.same(show(w.handle({ type: "prepared", txId: "t1", vote: "abort" })), ["send c VOTE-ABORT", "append WORKER-ABORT", "rm-abort"]);
  t.same(show(w.handle({ type: "applied", txId: "t1", decision: "abort" })), ["append WORKER-END", "set-timer forget 1000"]);
  t.same(show(recv(w, voteReq())), ["send c VOTE-ABORT"]);
});

t.test("participant - read-only vote: VOTE-READONLY, no log record, out of phase 2", async (t) => {
  const { w } = participant();
  recv(w, voteReq());
  t.same(show(w.handle({ type: "prepared", txId: "t1", vote: "read-only" })), ["send c VOTE-READONLY", "set-timer forget 1000"]);
  t.same(show(recv(w, voteReq())), ["send c VOTE-READONLY"], "a duplicate VOTE-REQ gets the same vote");
  t.same(show(recv(w, msg("DECISION-REQ", "w2"))), [], "knows no outcome, so tells a peer nothing");
});

t.test("participant - forces COMMIT, commits the resource manager, and ACKs only once it has applied; END unforced", async (t) => {
  const w = ready();
  t.same(show(recv(w, msg("GLOBAL-COMMIT", "c"))), ["clear-timer ask", "append! WORKER-COMMIT"]);
  t.same(show(recv(w, msg("GLOBAL-COMMIT", "c"))), [], "no ACK before COMMIT is durable, even when asked again");
  t.same(show(w.handle({ type: "durable", record: { type: "WORKER-COMMIT", txId: "t1" } })), ["rm-commit"]);
  t.same(show(recv(w, msg("GLOBAL-COMMIT", "c"))), [], "no ACK while the resource manager has not applied it: the coordinator must not forget it yet");
  t.same(show(w.handle({ type: "applied", txId: "t1", decision: "commit" })), ["append WORKER-END", "send c ACK", "set-timer forget 1000"]);
  t.same(show(recv(w, msg("GLOBAL-COMMIT", "c"))), ["send c ACK"], "a resent GLOBAL-COMMIT is ACKed again");
  t.same(show(recv(w, msg("GLOBAL-ABORT", "c"))), [], "a conflicting late GLOBAL-ABORT is ignored");
});

t.test("participant - GLOBAL-ABORT in READY aborts, unforced (presumed abort)", async (t) => {
  const w = ready();
  t.same(show(recv(w, msg("GLOBAL-ABORT", "c"))), ["clear-timer ask", "append WORKER-ABORT", "rm-abort"]);
  t.same(show(recv(w, msg("GLOBAL-ABORT", "c"))), [], "idempotent");
  t.same(show(recv(w, msg("DECISION-REQ", "w2"))), ["send w2 DECISION abort"], "an abort from the coordinator can be told at once");
});

t.test("participant - GLOBAL-COMMIT for a forgotten transaction is ACKed; GLOBAL-ABORT ignored", async (t) => {
  const { w } = participant();
  t.same(show(recv(w, msg("GLOBAL-COMMIT", "c", "old"))), ["send c ACK"]);
  t.same(show(recv(w, msg("GLOBAL-ABORT", "c", "old"))), []);
  t.equal(w.size, 0);
});

t.test("participant - in READY blocks and asks the coordinator, then its peers too", async (t) => {
  const w = ready("w1");
  t.same(show(w.handle({ type: "timeout", txId: "t1", timer: "ask" })), ["send c DECISION-REQ", "set-timer ask 30"]);
  t.same(show(w.handle({ type: "timeout", txId: "t1", timer: "ask" })), ["send c DECISION-REQ", "send w2 DECISION-REQ", "set-timer ask 30"]);
  t.same(
    w.inDoubt().map((tx) => tx.txId),
    ["t1"],
  );
  t.same(show(recv(w, decision("commit", "w2"))), ["clear-timer ask", "append! WORKER-COMMIT"], "a peer's answer counts like the coordinator's");
});

t.test("participant - a peer's DECISION abort ends READY", async (t) => {
  const w = ready("w1");
  t.same(show(recv(w, decision("abort", "w2"))), ["clear-timer ask", "append WORKER-ABORT", "rm-abort"]);
});

t.test("participant - cooperative termination: a peer that knows the outcome tells it", async (t) => {
  const w = ready("w2");
  recv(w, msg("GLOBAL-COMMIT", "c"));
  t.same(show(recv(w, msg("DECISION-REQ", "w1"))), ["send w1 DECISION commit"]);
});

t.test("participant - cooperative termination: a joined peer that has not voted aborts, forces ABORT, then tells", async (t) => {
  const { w } = participant("w2");
  w.handle({ type: "join", txId: "t1", coordinator: "c" });
  t.same(show(recv(w, msg("DECISION-REQ", "w1"))), ["clear-timer join", "append! WORKER-ABORT", "rm-abort", "send c VOTE-ABORT"], "nothing told before the abort is durable");
  t.same(show(w.handle({ type: "durable", record: { type: "WORKER-ABORT", txId: "t1" } })), ["send w1 DECISION abort"]);
  t.same(show(w.handle({ type: "applied", txId: "t1", decision: "abort" })), ["append WORKER-END", "set-timer forget 1000"]);
});

t.test("participant - cooperative termination: a preparing peer decides on its resource manager's answer", async (t) => {
  const { w } = participant("w2");
  recv(w, voteReq());
  t.same(show(recv(w, msg("DECISION-REQ", "w1"))), [], "prepare is running: no answer yet");
  t.same(show(w.handle({ type: "prepared", txId: "t1", vote: "commit" })), ["append! WORKER-ABORT", "rm-abort", "send c VOTE-ABORT"], "not voted yet, so it aborts instead");
  t.same(show(w.handle({ type: "durable", record: { type: "WORKER-ABORT", txId: "t1" } })), ["send w1 DECISION abort"]);

  const readOnly = participant("w2").w;
  recv(readOnly, voteReq());
  recv(readOnly, msg("DECISION-REQ", "w1"));
  t.same(show(readOnly.handle({ type: "prepared", txId: "t1", vote: "read-only" })), ["send c VOTE-READONLY", "set-timer forget 1000"], "a read-only vote may repeat a forgotten one: the asker is told nothing");
});

t.test("participant - cooperative termination: a peer in READY or that knows nothing stays silent", async (t) => {
  t.same(show(recv(ready("w2"), msg("DECISION-REQ", "w1"))), []);
  t.same(show(recv(participant("w2").w, msg("DECISION-REQ", "w1"))), [], "unknown: it may have voted read-only and forgotten");
});

t.test("participant - its own unforced abort is forced before a peer is told", async (t) => {
  const { w } = participant("w2");
  recv(w, voteReq());
  w.handle({ type: "prepared", txId: "t1", vote: "abort" });
  t.same(show(recv(w, msg("DECISION-REQ", "w1"))), ["append! WORKER-ABORT"]);
  t.same(show(recv(w, msg("DECISION-REQ", "w1"))), [], "one forced append for any number of askers");
  t.same(show(w.handle({ type: "durable", record: { type: "WORKER-ABORT", txId: "t1" } })), ["send w1 DECISION abort"]);
  t.same(show(recv(w, msg("DECISION-REQ", "w1"))), ["send w1 DECISION abort"]);
});

t.test("participant - joined but no VOTE-REQ in time: aborts in INIT", async (t) => {
  const { w } = participant();
  t.same(show(w.handle({ type: "join", txId: "t1", coordinator: "c" })), ["set-timer join 200"]);
  t.same(show(w.handle({ type: "timeout", txId: "t1", timer: "join" })), ["append WORKER-ABORT", "rm-abort"]);
  t.same(show(recv(w, voteReq())), ["send c VOTE-ABORT"], "the late VOTE-REQ is answered with the abort");
});

t.test("participant - joined, then VOTE-REQ: the join timer is cleared and prepare runs", async (t) => {
  const { w } = participant();
  w.handle({ type: "join", txId: "t1", coordinator: "c", timeout: 5 });
  t.same(show(recv(w, voteReq())), ["clear-timer join", "rm-prepare"]);
  t.same(show(w.handle({ type: "timeout", txId: "t1", timer: "join" })), [], "a stale join timer does not abort");
});

t.test("participant - GLOBAL-ABORT while prepare runs: rm-abort only after prepare answers", async (t) => {
  const { w } = participant();
  recv(w, voteReq());
  t.same(show(recv(w, msg("GLOBAL-ABORT", "c"))), ["clear-timer join", "append WORKER-ABORT"]);
  t.same(show(w.handle({ type: "prepared", txId: "t1", vote: "commit" })), ["rm-abort"]);
});

t.test("participant - recovery: READY asks, COMMIT re-applies then ACKs, ABORT re-aborts, ended is remembered", async (t) => {
  const { w, recovered } = participant("w1", {}, [
    { type: "WORKER-READY", txId: "r", coordinator: "c", participants: ["w1", "w2"] },
    { type: "WORKER-READY", txId: "k", coordinator: "c", participants: ["w1"] },
    { type: "WORKER-COMMIT", txId: "k" },
    { type: "WORKER-ABORT", txId: "a" },
    { type: "WORKER-READY", txId: "e", coordinator: "c", participants: ["w1"] },
    { type: "WORKER-COMMIT", txId: "e" },
    { type: "WORKER-END", txId: "e" },
  ]);
  t.same(show(recovered), ["send c DECISION-REQ", "set-timer ask 30", "rm-commit", "rm-abort", "set-timer forget 1000"]);
  t.same(
    [...w.transactions()].map((tx) => `${tx.txId}:${tx.phase}`),
    ["r:READY", "k:COMMIT", "a:ABORT", "e:COMMIT"],
  );
  t.same(show(w.handle({ type: "applied", txId: "k", decision: "commit" })), ["append WORKER-END", "send c ACK", "set-timer forget 1000"], "ACKed again once re-applied");
  t.same(show(recv(w, msg("DECISION-REQ", "w2", "e"))), ["send w2 DECISION commit"], "an ended transaction still answers its peers");
});

t.test("participant - a transaction a salvage cut (WORKER-IN-DOUBT) is held in doubt and asked about, never presumed aborted", async (t) => {
  const w = new ParticipantMachine({ self: "w1", askAfter: 30, askInterval: 40, rememberFor: 1000, coordinator: "c" });
  const actions = w.recover([{ type: "WORKER-IN-DOUBT", txId: "cut" }], ["cut"]);
  t.same(show(actions), ["send c DECISION-REQ", "set-timer ask 40"], "asks the coordinator; no rm-abort");
  t.match(w.get("cut"), { phase: "READY", lost: true, coordinator: "c" });
  t.same(w.inDoubt().map((tx) => tx.txId), ["cut"]);
  t.same(show(recv(w, voteReq(["w1", "w2"], "cut"))), [], "a duplicate VOTE-REQ gets no vote: the first one is unknown");
  t.same(show(recv(w, msg("DECISION-REQ", "w2", "cut"))), [], "a peer asking is told nothing");
  t.same(show(w.handle({ type: "timeout", txId: "cut", timer: "ask" })), ["send c DECISION-REQ", "send w2 DECISION-REQ", "set-timer ask 40"], "later asks go to the peers the VOTE-REQ named");
  t.same(show(recv(w, decision("commit", "c", "cut"))), ["clear-timer ask", "append! WORKER-COMMIT"], "the decision is obeyed");
  t.same(show(w.handle({ type: "durable", record: { type: "WORKER-COMMIT", txId: "cut" } })), ["rm-commit"]);
  t.same(show(w.handle({ type: "applied", txId: "cut", decision: "commit" })), ["append WORKER-END", "send c ACK", "set-timer forget 1000"]);
});

t.test("participant - a lost transaction with no coordinator known waits for one to speak, and learns it from a GLOBAL-COMMIT or VOTE-REQ", async (t) => {
  const w = new ParticipantMachine({ self: "w1", askInterval: 40, rememberFor: 1000 });
  t.same(show(w.recover([{ type: "WORKER-IN-DOUBT", txId: "a" }, { type: "WORKER-IN-DOUBT", txId: "b" }], ["a", "b"])), [], "nobody to ask yet, and nothing presumed");
  t.same(show(w.handle({ type: "timeout", txId: "a", timer: "ask" })), []);
  t.same(show(recv(w, voteReq(["w1", "w2"], "a"))), ["send c DECISION-REQ", "set-timer ask 40"], "a VOTE-REQ names the coordinator: asked at once, no vote");
  t.same(show(recv(w, msg("GLOBAL-ABORT", "c", "a"))), ["clear-timer ask", "append WORKER-ABORT", "rm-abort"]);
  t.same(show(recv(w, msg("GLOBAL-COMMIT", "c", "b"))), ["clear-timer ask", "append! WORKER-COMMIT"]);
  w.handle({ type: "durable", record: { type: "WORKER-COMMIT", txId: "b" } });
  t.same(show(w.handle({ type: "applied", txId: "b", decision: "commit" })), ["append WORKER-END", "send c ACK", "set-timer forget 1000"], "the ACK goes to the coordinator that said commit");
});

t.test("participant - recovery after a salvage: a lost transaction later committed, aborted or ended recovers as any other", async (t) => {
  const w = new ParticipantMachine({ self: "w1", rememberFor: 1000 });
  const actions = w.recover([
    { type: "WORKER-IN-DOUBT", txId: "k" },
    { type: "WORKER-COMMIT", txId: "k" },
    { type: "WORKER-IN-DOUBT", txId: "a" },
    { type: "WORKER-ABORT", txId: "a" },
  ]);
  t.same(show(actions), ["rm-commit", "rm-abort"]);
  t.same(show(recv(w, msg("GLOBAL-COMMIT", "c", "k"))), [], "the coordinator is learned, the ACK waits for the commit to be applied");
  t.same(show(w.handle({ type: "applied", txId: "k", decision: "commit" })), ["append WORKER-END", "send c ACK", "set-timer forget 1000"]);
  t.throws(() => new ParticipantMachine({ self: "w1" }).recover([{ type: "WORKER-READY", txId: "x", coordinator: "c", participants: [] }, { type: "WORKER-IN-DOUBT", txId: "x" }]), { code: "ERR_INVALID_LOG" });
});

t.test("participant - recovery: work its resource manager holds prepared but the log does not know is rolled back", async (t) => {
  const w = new ParticipantMachine({ self: "w1", rememberFor: 1000 });
  const actions = w.recover([{ type: "WORKER-READY", txId: "logged", coordinator: "c", participants: ["w1"] }], ["logged", "unlogged"]);
  t.same(show(actions), ["send c DECISION-REQ", "set-timer ask 1000", "append WORKER-ABORT", "rm-abort"], "the logged one asks; the unlogged one never voted: presumed abort");
  t.equal(w.get("unlogged")?.phase, "ABORT");
  t.same(show(w.handle({ type: "applied", txId: "unlogged", decision: "abort" })), ["append WORKER-END", "set-timer forget 1000"]);
});

t.test("participant - remembers a finished transaction until the forget timer, then forgets it", async (t) => {
  const w = ready();
  recv(w, msg("GLOBAL-COMMIT", "c"));
  t.same(show(w.handle({ type: "timeout", txId: "t1", timer: "forget" })), [], "not done yet: the timer is stale");
  t.ok(w.retains("t1"));
  w.handle({ type: "durable", record: { type: "WORKER-COMMIT", txId: "t1" } });
  w.handle({ type: "applied", txId: "t1", decision: "commit" });
  w.handle({ type: "timeout", txId: "t1", timer: "forget" });
  t.notOk(w.retains("t1"), "forgotten, so compaction drops its records");
  const forever = ready("w1", { rememberFor: Infinity });
  recv(forever, msg("GLOBAL-ABORT", "c"));
  t.same(show(forever.handle({ type: "applied", txId: "t1", decision: "abort" })), ["append WORKER-END"], "rememberFor Infinity never arms forget");
});

t.test("mutations - each deliberately breaks its rule", async (t) => {
  const { w } = participant("w1", { mutation: "participant-votes-before-force" });
  recv(w, voteReq());
  t.same(show(w.handle({ type: "prepared", txId: "t1", vote: "commit" })), ["append WORKER-READY", "send c VOTE-COMMIT", "set-timer ask 40"]);
  const quiet = participant("w1", { mutation: "participant-never-asks" }).w;
  recv(quiet, voteReq());
  quiet.handle({ type: "prepared", txId: "t1", vote: "commit" });
  t.same(show(quiet.handle({ type: "durable", record: { type: "WORKER-READY", txId: "t1", coordinator: "c", participants: ["w1", "w2"] } })), ["send c VOTE-COMMIT"], "no ask timer");
  const { c } = coordinator({ mutation: "coordinator-commits-before-force" });
  beginT1(c, ["w1"]);
  t.same(show(recv(c, msg("VOTE-COMMIT", "w1"))), ["clear-timer vote", "append COORD-COMMIT", "send w1 GLOBAL-COMMIT", "set-timer resend 50", "outcome committed all-voted-commit"]);
  t.same(show(participant("w1", { mutation: "participant-never-asks" }, [{ type: "WORKER-READY", txId: "t1", coordinator: "c", participants: ["w1"] }]).recovered), [], "nor after recovery");
  const peer = participant("w2", { mutation: "peer-aborts-unforced" }).w;
  peer.handle({ type: "join", txId: "t1", coordinator: "c" });
  t.same(show(recv(peer, msg("DECISION-REQ", "w1"))), ["clear-timer join", "append WORKER-ABORT", "rm-abort", "send w1 DECISION abort", "send c VOTE-ABORT"]);
});

t.test("messages - isTwopcMessage accepts every kind and rejects malformed input", async (t) => {
  for (const type of ["VOTE-COMMIT", "VOTE-ABORT", "VOTE-READONLY", "GLOBAL-COMMIT", "GLOBAL-ABORT", "ACK", "DECISION-REQ"]) {
    t.ok(isTwopcMessage({ type, txId: "t", from: "w" }), type);
  }
  t.ok(isTwopcMessage(voteReq()));
  t.ok(isTwopcMessage(decision("commit", "w")));
  for (const bad of [null, 7, { type: "VOTE-REQ", txId: "t", from: "c" }, { type: "DECISION", txId: "t", from: "c", decision: "maybe" }, { type: "NOPE", txId: "t", from: "c" }, { type: "ACK", txId: 1, from: "c" }]) {
    t.notOk(isTwopcMessage(bad), JSON.stringify(bad));
  }
});

t.test("coordinator - a caller's own id (durableStart): COORD-START is forced and VOTE-REQ waits for it", async (t) => {
  const c = new CoordinatorMachine({ self: "c" });
  c.recover([]);
  const begun = c.handle({ type: "begin", txId: "mine", participants: ["w1", "w2"], payload: { amount: 5 }, durableStart: true });
  t.same(
    begun.map((a) => a.type),
    ["append", "set-timer"],
    "nothing is sent before COORD-START is durable",
  );
  t.match(begun[0], { type: "append", record: { type: "COORD-START", txId: "mine" }, force: true });
  t.same(c.handle({ type: "receive", msg: { type: "VOTE-COMMIT", txId: "mine", from: "w1" } }), [], "a vote before VOTE-REQ went out is not counted");
  const sent = c.handle({ type: "durable", record: { type: "COORD-START", txId: "mine", participants: ["w1", "w2"] } });
  t.same(
    sent.map((a) => (a.type === "send" ? [a.to, a.msg.type, (a.msg as { payload?: unknown }).payload] : a.type)),
    [
      ["w1", "VOTE-REQ", { amount: 5 }],
      ["w2", "VOTE-REQ", { amount: 5 }],
    ],
  );
  t.match(c.get("mine"), { phase: "WAIT", committed: [] });
  t.equal((c.get("mine") as { awaitingStart?: unknown }).awaitingStart, undefined);
});
