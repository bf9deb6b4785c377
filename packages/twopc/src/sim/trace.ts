import type { TwopcAction } from "../protocol/actions.js";
import type { TwopcEvent } from "../protocol/events.js";
import type { TwopcMessage } from "../protocol/messages.js";

/** One message, briefly: `VOTE-COMMIT tx1 from w1`. */
export function describeMessage(msg: TwopcMessage): string {
  const extra = msg.type === "DECISION" ? ` ${msg.decision}` : msg.type === "VOTE-REQ" ? ` [${msg.participants.join(",")}]` : "";
  return `${msg.type}${extra} ${msg.txId} from ${msg.from}`;
}

/** One event fed to a machine, briefly. */
export function describeEvent(event: TwopcEvent): string {
  switch (event.type) {
    case "begin":
      return `begin ${event.txId} [${event.participants.join(",")}]`;
    case "join":
      return `join ${event.txId}`;
    case "receive":
      return `recv ${describeMessage(event.msg)}`;
    case "timeout":
      return `timeout ${event.timer} ${event.txId}`;
    case "durable":
      return `durable ${event.record.type} ${event.record.txId}`;
    case "prepared":
      return `prepared ${event.txId}: ${event.vote}`;
    case "applied":
      return `applied ${event.decision} ${event.txId}`;
    default:
      throw new Error(`unhandled event ${JSON.stringify(event satisfies never)}`);
  }
}

/** One action a machine asked for, briefly (`!` marks a forced append). */
export function describeAction(action: TwopcAction): string {
  switch (action.type) {
    case "append":
      return `append${action.force ? "!" : ""} ${action.record.type} ${action.record.txId}`;
    case "send":
      return `send to ${action.to}: ${action.msg.type}${action.msg.type === "DECISION" ? ` ${action.msg.decision}` : ""}`;
    case "set-timer":
      return `set-timer ${action.timer} ${action.txId} +${action.ms}ms`;
    case "clear-timer":
      return `clear-timer ${action.timer} ${action.txId}`;
    case "rm-prepare":
    case "rm-commit":
    case "rm-abort":
      return `${action.type} ${action.txId}`;
    case "outcome":
      return `OUTCOME ${action.txId} ${action.committed ? "COMMITTED" : "ABORTED"} (${action.reason}${action.by === undefined ? "" : ` by ${action.by}`})`;
    default:
      throw new Error(`unhandled action ${JSON.stringify(action satisfies never)}`);
  }
}
