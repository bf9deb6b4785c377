/**
 * The stable log of the `twopc.floor.latency` roles: fixed 64-byte records written at a
 * position into a file preallocated (and synced) at open, through a descriptor opened
 * `O_DSYNC`, on the calling thread: one durable write a record, and no metadata to commit,
 * as `@zmbox/log` does for the 2PC nodes (`inlineWrites`). Unforced records go through a
 * second, plain descriptor.
 */
import { closeSync, constants, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";

const RECORD = 64;
const SIZE = 16 * 1024 * 1024;

export class FloorLog {
  readonly #durable: number;
  readonly #plain: number;
  readonly #record = Buffer.alloc(RECORD);
  #position = 0;

  constructor(dir: string) {
    const path = join(dir, "floor.log");
    const fd = openSync(path, "w");
    const zeros = Buffer.alloc(1024 * 1024);
    for (let at = 0; at < SIZE; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
    fsyncSync(fd);
    closeSync(fd);
    this.#durable = openSync(path, constants.O_WRONLY | constants.O_DSYNC);
    this.#plain = openSync(path, constants.O_WRONLY);
  }

  /** Appends a record naming `kind` and `txId`; durable before it returns if `force`. */
  append(kind: number, txId: number, force: boolean): void {
    if (this.#position + RECORD > SIZE) this.#position = 0;
    this.#record.writeUInt32LE(kind, 0);
    this.#record.writeUInt32LE(txId, 4);
    writeSync(force ? this.#durable : this.#plain, this.#record, 0, RECORD, this.#position);
    this.#position += RECORD;
  }

  close(): void {
    closeSync(this.#durable);
    closeSync(this.#plain);
  }
}
