/**
 * The ZeroMQ options of the runtime's two kinds of socket (besides CURVE, see curve.ts).
 *
 * Both read every connection without pause (`receiveHighWaterMark: 0`). libzmq 4.3.5 aborts
 * the process (`Assertion failed: !_io_error (stream_engine_base.cpp:310)`) when a connection
 * whose reading it paused (its receive queue was full) breaks, and then a heartbeat is due or a
 * PING that was already read is answered: libzmq writes to the broken connection without
 * checking. Any peer can cause that by flooding and hanging up; with a queue that never fills,
 * libzmq never pauses. What an honest peer sends is bounded by credit (flow.ts) instead.
 */
import type { ParsedRuntimeOptions } from "./options.js";

const NEVER_PAUSE_READING = 0;

/** The owner's Router (besides CURVE). */
export function ownerSocketOptions(o: ParsedRuntimeOptions) {
  return {
    // No silent drops: an ack to a peer that is gone fails, and is counted.
    mandatory: true,
    // A peer that reconnects with the same routing id takes over its old connection.
    handover: true,
    // Never block the one writer on a slow peer: acks are cumulative, the next one replaces it.
    sendTimeout: 0,
    sendHighWaterMark: 10_000,
    receiveHighWaterMark: NEVER_PAUSE_READING,
    // What is queued when close() ends (after it waited for its acks to be handed over) gets
    // a moment to reach the wire, no more.
    linger: 100,
    heartbeatInterval: o.heartbeatInterval,
    heartbeatTimeout: o.heartbeatInterval * 3,
    heartbeatTimeToLive: o.heartbeatInterval * 3,
    maxMessageSize: o.maxMessageSize + 65536,
  };
}

/** A sending peer's Dealer (besides its routing id and CURVE). */
export function peerSocketOptions(o: ParsedRuntimeOptions) {
  return {
    // Not `immediate`: with it, ZeroMQ drops the frames a peer sent just before it closed
    // (its last acks and naks) along with the broken pipe. What ZeroMQ queues for a peer that
    // is not connected is bounded by the outbox and re-sent after a probe if lost.
    // close() drains at the protocol level (stored acks) first; the linger only lets the last
    // control frames (taken, release) leave, and bounds how long closing can take.
    linger: 200,
    // A send that cannot be queued at once fails with EAGAIN (the peer then waits for room, see
    // peer.ts) rather than asking ZeroMQ first whether there is room: one system call less for
    // every frame, and no send is ever put off to the next turn of the event loop.
    sendTimeout: 0,
    receiveHighWaterMark: NEVER_PAUSE_READING,
    heartbeatInterval: o.heartbeatInterval,
    heartbeatTimeout: o.heartbeatInterval * 3,
    heartbeatTimeToLive: o.heartbeatInterval * 3,
    maxMessageSize: o.maxMessageSize + 65536,
    reconnectInterval: 100,
    reconnectMaxInterval: 1000,
  };
}

/**
 * Hands every message `socket` receives to `onMessage` until the socket closes. The same as
 * `for await (const parts of socket)` without the async iterator's extra promise, async
 * function and result object for every message (a few microseconds a message on both sides of
 * every hop).
 */
export async function readLoop(socket: { receive(): Promise<Buffer[]>; readonly closed: boolean }, onMessage: (parts: Buffer[]) => void): Promise<void> {
  while (!socket.closed) {
    let parts: Buffer[];
    try {
      parts = await socket.receive();
    } catch (error) {
      // What the async iterator does: a receive cut short by close() ends the loop.
      if (socket.closed && (error as { code?: unknown }).code === "EAGAIN") return;
      throw error;
    }
    onMessage(parts);
  }
}
