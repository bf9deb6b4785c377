import t from "tap";
import { sleep } from "../../../test/support/index.js";
import { Timers } from "../src/driver/timers.js";
import { TimerName } from "../src/protocol/events.js";

function recorder(): { fired: string[]; timers: Timers } {
  const fired: string[] = [];
  const timers = new Timers((txId, timer) => fired.push(`${txId}/${timer}`));
  return { fired, timers };
}

t.test("timers fire once each, in deadline order, across durations", async (t) => {
  const { fired, timers } = recorder();
  timers.set("a", TimerName.Forget, 80);
  timers.set("b", TimerName.Ask, 20);
  await sleep(10);
  timers.set("c", TimerName.Forget, 80);
  timers.set("d", TimerName.Ask, 20);
  t.equal(timers.size, 4);
  await sleep(150);
  t.same(fired, ["b/ask", "d/ask", "a/forget", "c/forget"]);
  t.equal(timers.size, 0, "nothing left");
  await sleep(30);
  t.equal(fired.length, 4, "none fires twice");
});

t.test("a cleared timer never fires; setting it again replaces it", async (t) => {
  const { fired, timers } = recorder();
  timers.set("a", TimerName.Vote, 20);
  timers.set("b", TimerName.Vote, 20);
  timers.set("a", TimerName.Resend, 20);
  timers.clear("a", TimerName.Vote);
  timers.clear("nobody", TimerName.Vote);
  timers.set("b", TimerName.Vote, 60);
  t.equal(timers.size, 2, "one per (transaction, name)");
  await sleep(40);
  t.same(fired, ["a/resend"], "b was moved later, a's vote timer cleared");
  await sleep(50);
  t.same(fired, ["a/resend", "b/vote"]);
});

t.test("a timer set while timers fire, and clearAll from inside one, behave", async (t) => {
  const fired: string[] = [];
  const timers: Timers = new Timers((txId, timer) => {
    fired.push(`${txId}/${timer}`);
    // The machine re-arms its ask timer when it fires: same duration, set while firing.
    if (timer === TimerName.Ask && fired.length < 3) timers.set(txId, TimerName.Ask, 15);
    if (txId === "stop") timers.clearAll();
  });
  timers.set("x", TimerName.Ask, 15);
  await sleep(100);
  t.same(fired, ["x/ask", "x/ask", "x/ask"], "re-armed twice, then not");
  timers.set("stop", TimerName.Join, 10);
  timers.set("late", TimerName.Join, 10);
  timers.set("later", TimerName.Forget, 30);
  await sleep(60);
  t.same(fired.slice(3), ["stop/join"], "clearAll inside a firing timer stops the rest");
  t.equal(timers.size, 0);
});

t.test("thousands of timers, half of them cleared: the rest all fire, in order", async (t) => {
  const { fired, timers } = recorder();
  for (let i = 0; i < 5000; i++) timers.set(`tx${i}`, TimerName.Forget, 20);
  for (let i = 0; i < 5000; i += 2) timers.clear(`tx${i}`, TimerName.Forget);
  await sleep(80);
  t.equal(fired.length, 2500);
  t.equal(fired[0], "tx1/forget");
  t.equal(fired[2499], "tx4999/forget");
});

t.test("timers cleared before they are due never fire, and leave nothing behind", async (t) => {
  const { fired, timers } = recorder();
  // A coordinator's vote timers: set for every transaction, cleared when its votes are in.
  for (let i = 0; i < 5000; i++) {
    timers.set(`tx${i}`, TimerName.Vote, 30);
    timers.clear(`tx${i}`, TimerName.Vote);
  }
  timers.set("last", TimerName.Vote, 30);
  await sleep(60);
  t.same(fired, ["last/vote"]);
  t.equal(timers.size, 0);
});
