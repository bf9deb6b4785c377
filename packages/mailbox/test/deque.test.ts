import t from "tap";
import { Deque } from "../src/deque.js";

t.test("deque - matches an array under random push, unshift, shift, insert and remove", async (t) => {
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const d = new Deque<number>();
  const model: number[] = [];
  for (let step = 0; step < 20_000; step++) {
    const op = rand(6);
    const v = step;
    if (op === 0 || op === 1) {
      d.push(v);
      model.push(v);
    } else if (op === 2) {
      d.unshift(v);
      model.unshift(v);
    } else if (op === 3) {
      t.equal(d.shift(), model.shift());
    } else if (op === 4) {
      const i = rand(model.length + 1);
      d.insert(i, v);
      model.splice(i, 0, v);
    } else if (model.length > 0) {
      const x = model[rand(model.length)]!;
      t.equal(d.remove(x), true);
      model.splice(model.indexOf(x), 1);
    }
    if (d.length !== model.length || d.peek() !== model[0]) t.fail(`diverged at step ${step}`);
  }
  t.same([...d], model, "same items in the same order");
  t.same(d.drain(), model);
  t.equal(d.length, 0);
});
