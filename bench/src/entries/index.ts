/**
 * Every benchmark, in the order `pnpm bench` runs them (an entry's baseline always runs before
 * it). To add one: write `entries/<family>.ts` exporting an `Entry`, its roles in `roles/`, and
 * list it here.
 */
import type { Entry } from "../harness.js";
import { fsFdatasync } from "./fs-fdatasync.js";
import { mailboxMemorySlowConsumer, mailboxThroughputQueued, mailboxThroughputStored } from "./mailbox.js";
import { zeromqDealerRouterC64, zeromqDealerRouterRtt } from "./zeromq-dealer-router.js";
import { twopcLatency, twopcThroughput } from "./twopc.js";
import { zeromqPushPull } from "./zeromq-push-pull.js";
import { rrFloorRtt, rrRtt, rrThroughputC64 } from "./rr.js";
import { pipelineMemorySlowStage } from "./pipeline.js";

export const entries: readonly Entry[] = [
  zeromqPushPull,
  zeromqDealerRouterRtt,
  zeromqDealerRouterC64,
  fsFdatasync,
  mailboxThroughputQueued,
  mailboxThroughputStored,
  mailboxMemorySlowConsumer,
  twopcThroughput,
  twopcLatency,
  rrFloorRtt,
  rrRtt,
  rrThroughputC64,
  pipelineMemorySlowStage,
];
