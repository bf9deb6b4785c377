import t from "tap";
import { DeadlineHeap, type Timed } from "../src/internal.js";
import { Deadlines } from "../src/deadlines.js";
import { ManualClock } from "./manual-clock.js";

interface Item extends Timed {
  readonly name: string;
}

function heap(): { clock: ManualClock; due: string[]; deadlines: DeadlineHeap<Item>; item: (name: string) => Item } {
  const clock = new ManualClock();
  const due: string[] = [];
  const deadlines = new DeadlineHeap<Item>((item) => due.push(item.name), clock);
  return { clock, due, deadlines, item: (name) => ({ name, due: 0, heapIndex: -1 }) };
}

t.test("deadline heap - items fall due in deadline order on the injected clock, each once", async (t) => {
  const { clock, due, deadlines, item } = heap();
  const [a, b, c] = [item("a"), item("b"), item("c")];
  deadlines.add(a, 30);
  deadlines.add(b, 10);
  deadlines.add(c, 20);
  t.equal(a.due, 30, "due times are on the injected clock");
  t.equal(clock.pending, 1, "one timer for the earliest deadline");
  clock.advance(9);
  t.same(due, []);
  clock.advance(1);
  t.same(due, ["b"]);
  t.equal(b.heapIndex, -1, "out of the heap once due");
  clock.advance(100);
  t.same(due, ["b", "c", "a"]);
  t.equal(deadlines.size, 0);
  t.equal(clock.pending, 0, "no timer left armed");
});

t.test("deadline heap - an earlier deadline re-arms the timer; removed items never fall due", async (t) => {
  const { clock, due, deadlines, item } = heap();
  const [late, early, gone] = [item("late"), item("early"), item("gone")];
  deadlines.add(late, 100);
  deadlines.add(gone, 50);
  deadlines.add(early, 5);
  deadlines.remove(gone);
  deadlines.remove(gone);
  clock.advance(5);
  t.same(due, ["early"], "fired at 5, not at 100");
  clock.advance(95);
  t.same(due, ["early", "late"], "gone never fell due");
});

t.test("deadline heap - the timer holds the process only while something is pending", async (t) => {
  const { clock, deadlines, item } = heap();
  const a = item("a");
  deadlines.add(a, 10);
  t.ok(clock.holdsProcess, "armed and ref'd");
  deadlines.remove(a);
  t.notOk(clock.holdsProcess, "still armed, but unref'd once empty");
  deadlines.add(a, 20);
  t.ok(clock.holdsProcess, "ref'd again");
  deadlines.clear();
  t.equal(clock.pending, 0, "clear disarms the timer");
  clock.advance(100);
  t.equal(deadlines.size, 0);
});

t.test("deadline heap - an item added while items fall due is kept for its own time", async (t) => {
  const clock = new ManualClock();
  const due: string[] = [];
  const again: Item = { name: "again", due: 0, heapIndex: -1 };
  const deadlines: DeadlineHeap<Item> = new DeadlineHeap<Item>((it) => {
    due.push(`${it.name}@${clock.now()}`);
    if (it.name === "first") deadlines.add(again, 10);
  }, clock);
  deadlines.add({ name: "first", due: 0, heapIndex: -1 }, 10);
  clock.advance(15);
  t.same(due, ["first@10"]);
  clock.advance(5);
  t.same(due, ["first@10", "again@20"]);
});

t.test("deadlines - each calls its own function on the injected clock unless cancelled", async (t) => {
  const clock = new ManualClock();
  const deadlines = new Deadlines(clock);
  const fired: string[] = [];
  deadlines.add(20, () => fired.push("x"));
  const y = deadlines.add(10, () => fired.push("y"));
  deadlines.cancel(y);
  deadlines.cancel(undefined);
  t.equal(deadlines.size, 1);
  clock.advance(20);
  t.same(fired, ["x"]);
});
