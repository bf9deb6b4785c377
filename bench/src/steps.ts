/**
 * `node bench/dist/steps.js`: where one request's time goes, step by step, in `rr.rtt` and in
 * `rr.floor.rtt` side by side. Their roles run as in the bench with zeromq.js's send and receive
 * marked in each process (see roles/steps-probe.ts), and each request's round trip is cut into
 * steps by the marks around it. A transport step starts when the send is called: the call's own
 * length is a row of its own but part of that step, since on two busy cores the message often
 * reaches the other process before the sending thread gets its core back and the call returns.
 * Leave the send calls out and the steps add up to the round trip (their medians nearly do). The
 * table gives each step's median (and p90) over every timed request of every round, the two
 * layers alternating.
 *
 * The marks cost a little themselves (a clock read and a few stores a call), on both layers.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { ProcessGroup } from "./proc.js";
import type { RrClientRole } from "./roles/rr-client.js";
import type { RrEchoServerRole } from "./roles/rr-echo-server.js";
import type { RrFloorClientRole } from "./roles/rr-floor-client.js";
import type { RrFloorServerRole } from "./roles/rr-floor-server.js";
import { SERVER_CONCURRENCY, SIZE } from "./entries/rr.js";
import { Mark, type Marks } from "./roles/steps-probe.js";
import { percentile } from "./stats.js";

/** Marks kept a process: a request takes about ten, acks and warm-up included. */
const MARKS_PER_REQUEST = 32;

const STEPS = [
  "client: request() to its zeromq.js send",
  "client: the send call (part of the next step)",
  "from the send call to the server's receive",
  "server: receive to the handler",
  "server: handler to its zeromq.js send",
  "server: the send call (part of the next step)",
  "from the send call to the client's receive",
  "client: receive to the request resolved",
  "round trip",
] as const;

type Layer = "floor" | "zmbox";

/** The sockets each step's marks are on: acks travel on the others. */
const SOCKETS: Record<Layer, { clientSend: Mark; clientReceive: Mark; serverReceive: Mark; serverSend: Mark }> = {
  // One connection: the client's Dealer both ways, the server's Router both ways.
  floor: { clientSend: Mark.DealerSend, clientReceive: Mark.DealerReceive, serverReceive: Mark.RouterReceive, serverSend: Mark.RouterSend },
  // A mailbox each way: a request goes from the client's Dealer to the server's Router, its reply
  // from the server's Dealer to the client's Router.
  zmbox: { clientSend: Mark.DealerSend, clientReceive: Mark.RouterReceive, serverReceive: Mark.RouterReceive, serverSend: Mark.DealerSend },
};

/** Each request's steps in microseconds (STEPS order), from the client's and the server's marks. */
function cutSteps(layer: Layer, client: Marks, server: Marks): number[][] {
  const s = SOCKETS[layer];
  const rows: number[][] = [];
  let request = -1;
  for (let i = 0; i < client.kind.length; i++) {
    if (client.kind[i] === Mark.Request) request = i;
    if (client.kind[i] !== Mark.Resolved || request < 0) continue;
    const from = client.t[request]!;
    const to = client.t[i]!;
    const cSend = first(client, s.clientSend, request, i);
    const cReceive = last(client, s.clientReceive, request, i);
    const handler = firstIn(server, Mark.Handler, from, to);
    request = -1;
    if (cSend < 0 || cReceive < 0 || handler < 0) continue;
    const sReceive = lastBefore(server, s.serverReceive, handler, from);
    const sSend = firstAfter(server, s.serverSend, handler, to);
    if (sReceive < 0 || sSend < 0) continue;
    const us = (a: number, b: number): number => (b - a) * 1000;
    rows.push([
      us(from, client.t[cSend]!),
      client.ms[cSend]! * 1000,
      us(client.t[cSend]!, server.t[sReceive]!),
      us(server.t[sReceive]!, server.t[handler]!),
      us(server.t[handler]!, server.t[sSend]!),
      server.ms[sSend]! * 1000,
      us(server.t[sSend]!, client.t[cReceive]!),
      us(client.t[cReceive]!, to),
      us(from, to),
    ]);
  }
  return rows;
}

/** The first mark of `kind` between indexes `from` and `to`, or -1. */
function first(m: Marks, kind: Mark, from: number, to: number): number {
  for (let i = from; i <= to; i++) if (m.kind[i] === kind) return i;
  return -1;
}

function last(m: Marks, kind: Mark, from: number, to: number): number {
  for (let i = to; i >= from; i--) if (m.kind[i] === kind) return i;
  return -1;
}

/** Index of the first mark at or after time `t` (marks are in time order). */
function at(m: Marks, t: number): number {
  let lo = 0;
  let hi = m.t.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (m.t[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function firstIn(m: Marks, kind: Mark, from: number, to: number): number {
  for (let i = at(m, from); i < m.t.length && m.t[i]! <= to; i++) if (m.kind[i] === kind) return i;
  return -1;
}

function lastBefore(m: Marks, kind: Mark, index: number, from: number): number {
  for (let i = index - 1; i >= 0 && m.t[i]! >= from; i--) if (m.kind[i] === kind) return i;
  return -1;
}

function firstAfter(m: Marks, kind: Mark, index: number, to: number): number {
  for (let i = index + 1; i < m.t.length && m.t[i]! <= to; i++) if (m.kind[i] === kind) return i;
  return -1;
}

async function runLayer(layer: Layer, count: number, warmup: number): Promise<number[][]> {
  const group = new ProcessGroup();
  const steps = (count + warmup) * MARKS_PER_REQUEST;
  try {
    if (layer === "floor") {
      const server = await group.fork<RrFloorServerRole>("rr-floor-server", { steps });
      const client = await group.fork<RrFloorClientRole>("rr-floor-client", { endpoint: server.info.endpoint, count, warmup, size: SIZE, steps });
      client.start(null);
      const c = await client.result();
      const s = await server.stop();
      return cutSteps(layer, c.marks!, s.marks!);
    }
    const server = await group.fork<RrEchoServerRole>("rr-echo-server", { concurrency: SERVER_CONCURRENCY, steps });
    const client = await group.fork<RrClientRole>("rr-client", { address: server.info.address, count, warmup, size: SIZE, inFlight: 1, steps });
    client.start(null);
    const c = await client.result();
    const s = await server.stop();
    return cutSteps(layer, c.marks!, s.marks!);
  } finally {
    await group.close();
  }
}

const USAGE = "usage: node bench/dist/steps.js [--json] [--requests N] [--rounds N]";

/** A whole number from 1 up, or a usage error (exit code 2, as bench.js). */
function count(name: string, value: string): number {
  const n = Number(value);
  if (Number.isInteger(n) && n >= 1) return n;
  console.error(`Expected \`--${name}\` to be an integer from 1 up, got \`${value}\`\n${USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { requests: { type: "string", default: "20000" }, rounds: { type: "string", default: "2" }, json: { type: "boolean", default: false } },
  });
  const requests = count("requests", values.requests);
  const rounds = count("rounds", values.rounds);
  const rows: Record<Layer, number[][]> = { floor: [], zmbox: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Layer[] = r % 2 === 0 ? ["floor", "zmbox"] : ["zmbox", "floor"];
    for (const layer of order) {
      process.stderr.write(`[steps] ${layer}: ${requests} requests (round ${r + 1}/${rounds})\n`);
      rows[layer].push(...(await runLayer(layer, requests, Math.ceil(requests / 10))));
    }
  }
  const med = (layer: Layer, i: number, p: number): number => percentile(rows[layer].map((row) => row[i]!), p);
  if (values.json) {
    const steps = STEPS.map((name, i) => ({
      name,
      floor: { p50: med("floor", i, 50), p90: med("floor", i, 90) },
      zmbox: { p50: med("zmbox", i, 50), p90: med("zmbox", i, 90) },
    }));
    console.log(JSON.stringify({ requests: { floor: rows.floor.length, zmbox: rows.zmbox.length }, steps }));
    return;
  }
  const f = (x: number): string => x.toFixed(1);
  console.log(`Medians (p90) in us over ${rows.floor.length} and ${rows.zmbox.length} requests, one at a time:\n`);
  console.log("| step | `rr.floor.rtt` | `rr.rtt` | difference of medians |");
  console.log("| --- | --- | --- | --- |");
  STEPS.forEach((name, i) => {
    const a = med("floor", i, 50);
    const b = med("zmbox", i, 50);
    console.log(`| ${name} | ${f(a)} (${f(med("floor", i, 90))}) | ${f(b)} (${f(med("zmbox", i, 90))}) | ${b >= a ? "+" : ""}${f(b - a)} |`);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
