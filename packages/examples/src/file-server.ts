/**
 * The textbook file service, across two OS processes:
 *
 *   Client (requesting the file)              Server (responding with the file)
 *     send("read rutabaga", server_mbox);       receive(command, server_mbox);
 *     receive(response, client_mbox);           decode command; read file into answer;
 *                                               send(answer, client_mbox);
 *
 * This program is the client; it forks itself as the server (`file-server.js server <dir>`).
 * Part 1 writes the textbook two lines with bare `send`/`receive`: the request is the envelope
 * `serve()` understands, which names the client's mailbox. Part 2 does the same with
 * `Client.request()`, which adds correlation ids, retries and typed errors.
 *
 *   client process                                 server process
 *   [client] <------- { ok, body: file } --------  serve([files], read file)
 *      \------ { requestId, replyTo: client, body: "read rutabaga" } ------> [files]
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Runtime } from "@zmbox/mailbox";
import { Client, RemoteError, serve } from "@zmbox/twopc";
import { exitWithParent } from "./parent.js";

const role = process.argv[2] ?? "client";
if (role === "server") await server(process.argv[3]!);
else await client();

async function server(dir: string): Promise<void> {
  exitWithParent(); // forked by the client: it ends with it
  const rt = await Runtime.start({ endpoint: "tcp://127.0.0.1:0" });
  const files = rt.mailbox("files", { capacity: 100 });
  // receive(command, server_mbox) ... send(answer, client_mbox): serve() runs that loop.
  const service = serve(rt, files, async (command: string) => {
    const [verb, name] = String(command).split(" "); // decode command
    if (verb !== "read" || name === undefined || !/^[\w.-]+$/.test(name)) {
      throw Object.assign(new Error(`cannot do ${JSON.stringify(command)}`), { code: "EBADCOMMAND" });
    }
    const answer = await readFile(join(dir, name), "utf8"); // read file into answer
    console.log(`server: ${command} -> ${answer.length} bytes`);
    return answer;
  }, { concurrency: 4 });
  console.log(`server: serving ${files.address} (process ${process.pid})`);
  process.send!({ address: files.address });
  await once(process, "message"); // "stop"
  await service.close();
  await rt.close();
  console.log("server: closed");
  process.disconnect();
}

async function client(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "file-server-"));
  await writeFile(join(dir, "rutabaga"), "Rutabaga (Brassica napobrassica): a root vegetable, a cross of cabbage and turnip.\n");
  const child = fork(fileURLToPath(import.meta.url), ["server", dir], { stdio: "inherit" });
  const rt = await Runtime.start();
  try {
    const { address: serverMbox } = await Promise.race([
      once(child, "message").then(([m]) => m as { address: string }),
      once(child, "exit").then(([code]) => Promise.reject(new Error(`the server exited (${code}) before it was ready`))),
    ]);

    // Part 1, as the textbook writes it.
    const { send, receive } = rt;
    const clientMbox = rt.mailbox("client");
    await send({ type: "request", clientId: `literal-${process.pid}`, requestId: 1, replyTo: clientMbox.address, body: "read rutabaga" }, serverMbox);
    console.log(`client: sent "read rutabaga" to ${serverMbox}`);
    const response = (await receive(clientMbox, { timeout: 10_000 })) as { ok: boolean; body?: string };
    console.log(`client: got ${JSON.stringify(response.body)} at ${clientMbox.address}`);

    // Part 2, with a Client: its own reply mailbox, correlation ids, retries, typed errors.
    const files = new Client(rt);
    const content = await files.request<string>("read rutabaga", serverMbox, { timeout: 2000, retries: 2 });
    console.log(`client: request("read rutabaga") -> ${content.length} bytes: ${content.split(":")[0]}`);
    try {
      await files.request("read parsnip", serverMbox);
    } catch (error) {
      if (!(error instanceof RemoteError)) throw error;
      console.log(`client: request("read parsnip") -> RemoteError ${error.code}: ${error.message}`);
    }
    files.close();
  } finally {
    const exit = child.exitCode ?? child.signalCode ?? once(child, "exit").then(([code, signal]) => code ?? signal);
    if (child.connected) child.send("stop");
    const code = await exit;
    await rt.close();
    await rm(dir, { recursive: true, force: true });
    console.log(`client: server exited with ${code}; done`);
  }
}
