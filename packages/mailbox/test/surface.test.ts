// The shipped type declarations show the public API only: what the runtime's own files call on
// its public classes is tagged @internal and stripped (stripInternal), and the helpers the
// project's other packages share are under `@zmbox/mailbox/internal`, not the package's root.
// Reads the built .d.ts files: `pnpm test` builds first.
import t from "tap";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const src = fileURLToPath(new URL("../src/", import.meta.url));
const dist = fileURLToPath(new URL("../dist/", import.meta.url));

/** The .d.ts files a user of `entry` can reach, by following relative imports and re-exports. */
function reachable(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const queue = [entry];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (files.has(file)) continue;
    const text = readFileSync(dist + file, "utf8");
    files.set(file, text);
    for (const [, path] of text.matchAll(/from "\.\/([\w-]+)\.js"/g)) queue.push(`${path}.d.ts`);
  }
  return files;
}

/** The body of `class name { ... }` in `text` (from its opening brace to the matching one). */
function classBody(text: string, name: string): string | undefined {
  const start = new RegExp(`(?:class|interface) ${name}\\b[^{]*\\{`).exec(text);
  if (start === null) return undefined;
  let depth = 1;
  let i = start.index + start[0].length;
  for (; i < text.length && depth > 0; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}") depth--;
  }
  return text.slice(start.index + start[0].length, i - 1);
}

/** Member names declared at the top level of a class body (comments dropped). */
function members(body: string): Set<string> {
  const names = new Set<string>();
  let depth = 0;
  for (const line of body.replace(/\/\*[\s\S]*?\*\//g, "").split("\n")) {
    if (depth === 0) {
      const m = /^\s*(?:(?:static|readonly|private|protected|get|set|async)\s+)*(\w+)\s*[(<:?]/.exec(line);
      if (m) names.add(m[1]!);
    }
    for (const c of line) depth += c === "{" || c === "(" ? 1 : c === "}" || c === ")" ? -1 : 0;
  }
  return names;
}

/** For each class of the sources, the members tagged `@internal`. */
function internalMembers(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const file of readdirSync(src).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(src + file, "utf8");
    for (const [, name] of text.matchAll(/export class (\w+)/g)) {
      const body = classBody(text, name!)!;
      const tagged = [...body.matchAll(/\/\*\*(?:(?!\*\/)[\s\S])*@internal[\s\S]*?\*\/\s*(?:(?:static|readonly|private|get|set|async)\s+)*(\w+)/g)].map((m) => m[1]!);
      if (tagged.length > 0) out.set(name!, tagged);
    }
  }
  return out;
}

t.test("the built declarations (of the root and of /internal) show no member the runtime tags @internal", async (t) => {
  t.ok(existsSync(dist + "index.d.ts"), "the package is built (pnpm build)");
  const files = new Map([...reachable("index.d.ts"), ...reachable("internal.d.ts")]);
  const tagged = internalMembers();
  // The members other files of the package call: if the tags went, this list would be empty.
  t.ok(["hello", "skip", "store", "channel", "grant", "sweep", "shutdown"].every((m) => tagged.get("Mailbox")?.includes(m)), "Mailbox's runtime-facing methods are tagged");
  t.ok(tagged.get("EncodedMessage")?.includes("payload"), "EncodedMessage's bytes are tagged");
  for (const [cls, names] of tagged) {
    for (const [file, text] of files) {
      const body = classBody(text, cls);
      if (body === undefined) continue;
      const shown = members(body);
      t.same(names.filter((n) => shown.has(n)), [], `${file}: ${cls} shows none of ${names.join(", ")}`);
    }
  }
  t.ok(members(classBody(files.get("mailbox.d.ts")!, "Mailbox")!).has("receive"), "the public members are still there");
});

t.test("the declarations a user reaches name none of the runtime's internal types", async (t) => {
  const internal = ["MailboxHost", "StoredMessage", "Waiter", "InChannel", "Owner", "Peer", "RemoteInbox", "RemoteWindow", "AckScheduler", "RouterWriter"];
  for (const [file, text] of reachable("index.d.ts")) {
    const named = internal.filter((n) => new RegExp(`\\b${n}\\b`).test(text.replace(/\/\*[\s\S]*?\*\//g, "")));
    t.same(named, [], `${file} names no internal type`);
  }
});

t.test("shared helpers are under @zmbox/mailbox/internal, not the package's root", async (t) => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8")) as {
    exports: Record<string, { types: string; default: string }>;
  };
  t.same(pkg.exports["./internal"], { types: "./dist/internal.d.ts", default: "./dist/internal.js" }, "the subpath is exported, with its types");
  const root = await import("../src/index.js");
  const internal = await import("../src/internal.js");
  for (const name of ["onAbort", "DeadlineHeap", "Waits", "WaitTimer", "describe", "checkOptions", "checkInteger", "checkSignal"]) {
    t.notOk(name in root, `${name} is not in the root`);
    t.ok(name in internal, `${name} is in /internal`);
  }
});
