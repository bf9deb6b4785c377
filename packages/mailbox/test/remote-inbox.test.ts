// The remote receiver against a hand-driven owner.
import t from "tap";
import { Packr } from "msgpackr";
import { PROTOCOL_VERSION as V } from "../src/wire.js";
import { Runtime } from "../src/index.js";
import { eventually, RawOwner, starter } from "../../../test/support/index.js";

const start = starter(Runtime);

const RID = "r-hand-owner";
const packr = new Packr({ useRecords: false });

t.test("an idle remote receiver hands back in the same order as a closing one: taken, pull(0), release", async (t) => {
  const owner = await RawOwner.bind(t);
  // A keep-alive late by 2 intervals would start a new epoch (dropping what is held, without a
  // release): the default interval keeps a loaded machine from doing that.
  const receiver = await start(t, "tcp");
  const from = `box@${owner.endpoint}`;
  const got = receiver.receive(from, { timeout: 5000 });
  await eventually(() => owner.frames("pull").length > 0, 5000, "a pull");
  const pull = owner.frames("pull")[0]!;
  const epoch = pull.header[4];
  // Two deliveries for one receive: the second is held, and handed back once the receiver is idle.
  await owner.send(pull.peer, [V, "deliver", "box", RID, epoch, 1, 0], packr.pack("one"));
  await owner.send(pull.peer, [V, "deliver", "box", RID, epoch, 2, 0], packr.pack("two"));
  t.equal(await got, "one", "the receive got the first delivery");
  await eventually(() => owner.frames("release").length > 0, 5000, "the release");
  const kinds = owner.received.map((f) => (f.header[1] === "pull" ? `pull(${String(f.header[3])})` : String(f.header[1])));
  const tail = kinds.slice(kinds.lastIndexOf("pull(0)"));
  t.same(tail, ["pull(0)", "release"], `the window is withdrawn before the release (${kinds.join(", ")})`);
  t.ok(kinds.indexOf("taken") < kinds.indexOf("pull(0)"), "the taken notice went first");
  t.same(owner.frames("release")[0]!.header[4], [2], "the held delivery is released");
});
