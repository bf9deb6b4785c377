import t from "tap";
import { Timers } from "../src/driver/timers.js";
import { TimerName } from "../src/protocol/events.js";
import { ManualClock } from "../../mailbox/test/manual-clock.js";

// Every test runs on a manual clock: time moves only when it says `clock.advance`.

function recorder(): { fired: string[]; timers: Timers; clock: ManualClock } {
  const fired: string[] = [];
  const clock = new ManualClock();
  const timers = new Timers((txId, timer) => fired.push(`${txId}/${timer}`), clock);
  return { fired, timers, clock };
}

t.test("timers fire once each, in deadline order, across durations", async (t) => {
  const { fired, timers, clock } = recorder();
  timers.set("a", TimerName.Forget, 80);
  timers.set("b", TimerName.Ask, 20);
  clock.advance(10);
  timers.set("c", TimerName.Forget, 80);
  timers.set("d", TimerName.Ask, 20);
  t.equal(timers.size, 4);
  clock.advance(19);
  t.same(fired, ["b/ask"], "b is due at 20, d at 30");
  clock.advance(1);
  t.same(fired, ["b/ask", "d/ask"], "d fires exactly when due");
  clock.advance(150);
  t.same(fired, ["b/ask", "d/ask", "a/forget", "c/forget"]);
  t.equal(timers.size, 0, "nothing left");
  t.equal(clock.pending, 0, "and no timer armed");
  clock.advance(30);
  t.equal(fired.length, 4, "none fires twice");
});

t.test("a cleared timer never fires; setting it again replaces it", async (t) => {
  const { fired, timers, clock } = recorder();
  timers.set("a", TimerName.Vote, 20);
  timers.set("b", TimerName.Vote, 20);
  timers.set("a", TimerName.Resend, 20);
  timers.clear("a", TimerName.Vote);
  timers.clear("nobody", TimerName.Vote);
  timers.set("b", TimerName.Vote, 60);
  t.equal(timers.size, 2, "one per (transaction, name)");
  clock.advance(40);
  t.same(fired, ["a/resend"], "b was moved later, a's vote timer cleared");
  clock.advance(20);
  t.same(fired, ["a/resend", "b/vote"]);
});

t.test("a timer set while timers fire, and clearAll from inside one, behave", async (t) => {
  const fired: string[] = [];
  const clock = new ManualClock();
  const timers: Timers = new Timers((txId, timer) => {
    fired.push(`${txId}/${timer}`);
    // The machine re-arms its ask timer when it fires: same duration, set while firing.
    if (timer === TimerName.Ask && fired.length < 3) timers.set(txId, TimerName.Ask, 15);
    if (txId === "stop") timers.clearAll();
  }, clock);
  timers.set("x", TimerName.Ask, 15);
  clock.advance(100);
  t.same(fired, ["x/ask", "x/ask", "x/ask"], "re-armed twice, then not");
  timers.set("stop", TimerName.Join, 10);
  timers.set("late", TimerName.Join, 10);
  timers.set("later", TimerName.Forget, 30);
  clock.advance(60);
  t.same(fired.slice(3), ["stop/join"], "clearAll inside a firing timer stops the rest");
  t.equal(timers.size, 0);
  t.equal(clock.pending, 0, "and no timer armed");
});

t.test("thousands of timers, half of them cleared: the rest all fire, in order", async (t) => {
  const { fired, timers, clock } = recorder();
  for (let i = 0; i < 5000; i++) timers.set(`tx${i}`, TimerName.Forget, 20 + (i % 7));
  for (let i = 0; i < 5000; i += 2) timers.clear(`tx${i}`, TimerName.Forget);
  clock.advance(19);
  t.equal(fired.length, 0, "none before its time");
  clock.advance(80);
  t.equal(fired.length, 2500);
  t.same(new Set(fired), new Set(Array.from({ length: 2500 }, (_, k) => `tx${2 * k + 1}/forget`)), "each timer not cleared, once");
  const dueOf = (name: string): number => 20 + (Number(name.slice(2, name.indexOf("/"))) % 7);
  t.ok(fired.every((name, i) => i === 0 || dueOf(fired[i - 1]!) <= dueOf(name)), "in deadline order");
});

t.test("timers cleared before they are due never fire, and leave nothing behind", async (t) => {
  const { fired, timers, clock } = recorder();
  // A coordinator's vote timers: set for every transaction, cleared when its votes are in.
  for (let i = 0; i < 5000; i++) {
    timers.set(`tx${i}`, TimerName.Vote, 30);
    timers.clear(`tx${i}`, TimerName.Vote);
  }
  timers.set("last", TimerName.Vote, 30);
  t.equal(clock.pending, 1, "one timer armed for all of them");
  clock.advance(60);
  t.same(fired, ["last/vote"]);
  t.equal(timers.size, 0);
});
