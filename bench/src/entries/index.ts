/**
 * Every benchmark, in the order `pnpm bench` runs them (an entry's baseline always runs before
 * it). To add one: write `entries/<family>.ts` exporting an `Entry`, its roles in `roles/`, and
 * list it here.
 */
import type { Entry } from "../harness.js";
import { fsFdatasync } from "./fs-fdatasync.js";
import {
  mailboxMemorySlowConsumer,
  mailboxMemorySlowConsumerDurable,
  mailboxThroughputAcked,
  mailboxThroughputDurable,
  mailboxThroughputQueued,
  mailboxThroughputStored,
  mailboxThroughputStoredCurve,
} from "./mailbox.js";
import { zeromqDealerRouterC64, zeromqDealerRouterRtt } from "./zeromq-dealer-router.js";
import { twopcFloorLatency, twopcLatency, twopcThroughput } from "./twopc.js";
import { zeromqPushPull } from "./zeromq-push-pull.js";
import { rrFloorRtt, rrRtt, rrRttCurve, rrThroughputC64 } from "./rr.js";
import { pipelineMemorySlowStage } from "./pipeline.js";
import { mailboxScaleChannels, twopcScaleParticipants3, twopcScaleParticipants8, twopcScaleParticipants32 } from "./scale.js";
import { fairGoodAlone, fairGoodCrowded, fairSenders10, fairSenders100, fairSenders1000 } from "./fair.js";
import { natsCorePublish, natsJetstreamPublish, natsJetstreamPublishFile, natsRrC64, natsRrRtt } from "./nats.js";
import { rabbitmqConfirmPublish, rabbitmqConfirmPublishDurable, rabbitmqRpcC64, rabbitmqRpcRtt } from "./rabbitmq.js";
import { postgres2pcLatency, postgres2pcThroughput } from "./postgres.js";

export const entries: readonly Entry[] = [
  zeromqPushPull,
  zeromqDealerRouterRtt,
  zeromqDealerRouterC64,
  fsFdatasync,
  mailboxThroughputQueued,
  mailboxThroughputStored,
  mailboxThroughputAcked,
  mailboxThroughputStoredCurve,
  mailboxMemorySlowConsumer,
  mailboxThroughputDurable,
  mailboxMemorySlowConsumerDurable,
  twopcThroughput,
  twopcLatency,
  twopcFloorLatency,
  rrFloorRtt,
  rrRtt,
  rrRttCurve,
  rrThroughputC64,
  pipelineMemorySlowStage,
  mailboxScaleChannels,
  twopcScaleParticipants3,
  twopcScaleParticipants8,
  twopcScaleParticipants32,
  fairSenders10,
  fairSenders100,
  fairSenders1000,
  fairGoodAlone,
  fairGoodCrowded,
];

/**
 * The brokers users would otherwise pick, measured as the zmbox entry each names in `peerOf`
 * (`pnpm bench --peers`). Their servers are started by the harness (see `service.ts`); without
 * them installed (bench/peers/setup), these entries are skipped.
 */
export const peerEntries: readonly Entry[] = [
  natsRrRtt,
  natsRrC64,
  rabbitmqRpcRtt,
  rabbitmqRpcC64,
  natsCorePublish,
  natsJetstreamPublish,
  rabbitmqConfirmPublish,
  natsJetstreamPublishFile,
  rabbitmqConfirmPublishDurable,
  postgres2pcThroughput,
  postgres2pcLatency,
];
