// The public surface of @zmbox/twopc, read from the built package (run `pnpm build` first):
// the names of the main entry are listed here one by one, so that adding one is a visible
// decision, and the shipped declaration files must not name what no entry exports.
//
//   package.json "exports"  --types-->  dist/<entry>.d.ts  --imports-->  dist/**/*.d.ts
//                           --default-> dist/<entry>.js
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  exports: Record<string, string | { types: string; default: string }>;
};

/** The entries, without "./package.json": subpath -> its declaration file and its module. */
const entries = Object.entries(pkg.exports).flatMap(([subpath, target]) => (typeof target === "string" ? [] : [{ subpath, ...target }]));
const specifier = (subpath: string): string => (subpath === "." ? "@zmbox/twopc" : `@zmbox/twopc/${subpath.slice(2)}`);

/** What `import ... from "@zmbox/twopc"` offers, values and types alike. */
const MAIN = [
  "AbortVote",
  // request-response
  "Client",
  "ClientOptions",
  "ClientStats",
  "Handler",
  "RemoteError",
  "RequestContext",
  "RequestOptions",
  "RequestTimeoutError",
  "ServeOptions",
  "Server",
  "ServerStats",
  "request",
  "serve",
  // pipelines
  "DeadLetter",
  "DrainOptions",
  "Pipeline",
  "PipelineOptions",
  "PipelineStage",
  "PipelineStats",
  "ProduceOptions",
  "Stage",
  "StageContext",
  "StageHandler",
  "StageOptions",
  "StageStats",
  "isDeadLetter",
  "pipeline",
  "produce",
  "stage",
  // two-phase commit
  "Coordinator",
  "CoordinatorInDoubt",
  "CoordinatorOptions",
  "CoordinatorStats",
  "InvalidLogError",
  "InvalidParticipantsError",
  "NodeClosedError",
  "NodeFailedError",
  "NodeId",
  "NodeOptions",
  "NodeStats",
  "Outcome",
  "OutcomeReason",
  "Participant",
  "ParticipantInDoubt",
  "ParticipantOptions",
  "ParticipantStats",
  "ResourceManager",
  "TransactOptions",
  "TxId",
  "TxIdInUseError",
  "Vote",
];

/** Of {@link MAIN}, the names that exist at run time (the rest are types). */
const MAIN_VALUES = [
  "Client",
  "Coordinator",
  "InvalidLogError",
  "InvalidParticipantsError",
  "NodeClosedError",
  "NodeFailedError",
  "OutcomeReason",
  "Participant",
  "Pipeline",
  "RemoteError",
  "RequestTimeoutError",
  "Server",
  "Stage",
  "TxIdInUseError",
  "Vote",
  "isDeadLetter",
  "pipeline",
  "produce",
  "request",
  "serve",
  "stage",
];

/** Hooks for the tests and the checkers' self-tests: no entry may export them. */
const TEST_HOOKS = ["Mutation", "parseCoordinatorMachineOptions", "parseParticipantMachineOptions"];

/**
 * Names the shipped declarations may hold although no entry exports them, each with why.
 * Everything else internal is tagged `@internal`, and `stripInternal` leaves it out.
 */
const ALLOWED_UNEXPORTED: Record<string, string> = {
  TwopcNode: "the base class of Coordinator and Participant; its public members are theirs",
  // protocol/options.ts declares these next to the machines' options, whose `mutation` field
  // names Mutation; they leave the declarations when that module tags them @internal.
  Mutation: "protocol/options.d.ts: the machines' `mutation` test hook",
  parseCoordinatorMachineOptions: "protocol/options.d.ts",
  parseParticipantMachineOptions: "protocol/options.d.ts",
};

const program = ts.createProgram(
  entries.map((e) => join(root, e.types)),
  { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true, types: [] },
);
const checker = program.getTypeChecker();

/** The names a declaration file exports, values and types. */
function declaredExports(file: string): string[] {
  const source = program.getSourceFile(join(root, file));
  if (source === undefined) throw new Error(`${file} is missing: run pnpm build`);
  const module = checker.getSymbolAtLocation(source);
  if (module === undefined) throw new Error(`${file} is not a module`);
  return checker
    .getExportsOfModule(module)
    .map((s) => s.name)
    .sort();
}

const sorted = (names: readonly string[]): string[] => [...names].sort();

t.test("surface - the main entry exports exactly the common API, values and types", async (t) => {
  const main = entries.find((e) => e.subpath === ".");
  if (main === undefined) throw new Error('package.json exports has no "."');
  t.same(declaredExports(main.types), sorted(MAIN), "the names in dist/index.d.ts");
  const mod = (await import("@zmbox/twopc")) as Record<string, unknown>;
  t.same(Object.keys(mod).sort(), sorted(MAIN_VALUES), "the names at run time");
  t.ok(
    MAIN_VALUES.every((name) => MAIN.includes(name)),
    "every run-time name is a declared one",
  );
});

t.test("surface - every subpath resolves to its built module and declarations", async (t) => {
  t.same(
    entries.map((e) => e.subpath),
    [".", "./rr", "./pipeline", "./2pc", "./sim", "./trace"],
  );
  const expected: Record<string, string[]> = {
    ".": ["serve", "request", "Coordinator"],
    "./rr": ["serve", "request", "Client", "ReplyCache", "BAD_REQUEST", "RemoteError"],
    "./pipeline": ["stage", "pipeline", "produce", "isDeadLetter"],
    "./2pc": ["Coordinator", "Participant", "CoordinatorMachine", "ParticipantMachine", "summarizeLog", "inspectLog", "DEFAULT_VOTE_TIMEOUT"],
    "./sim": ["simulateSeed", "checkExhaustively"],
    "./trace": ["renderSvg", "renderMermaid", "readTraces", "TraceKind"],
  };
  for (const entry of entries) {
    t.ok(existsSync(join(root, entry.types)), `${entry.subpath}: ${entry.types} exists`);
    t.equal(fileURLToPath(import.meta.resolve(specifier(entry.subpath))), join(root, entry.default), `${entry.subpath} resolves to ${entry.default}`);
    const mod = (await import(specifier(entry.subpath))) as Record<string, unknown>;
    for (const name of expected[entry.subpath] ?? []) t.ok(name in mod, `${specifier(entry.subpath)} exports ${name}`);
    t.same(
      Object.keys(mod).filter((name) => !declaredExports(entry.types).includes(name)),
      [],
      `${entry.subpath}: every run-time name is declared`,
    );
  }
});

t.test("surface - no entry exports a test hook", async (t) => {
  for (const entry of entries) {
    const mod = (await import(specifier(entry.subpath))) as Record<string, unknown>;
    const names = new Set([...declaredExports(entry.types), ...Object.keys(mod)]);
    t.same(
      TEST_HOOKS.filter((hook) => names.has(hook)),
      [],
      `${specifier(entry.subpath)} exports no test hook`,
    );
  }
});

/** Every .d.ts under dist, recursively. */
function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? declarationFiles(join(dir, d.name)) : d.name.endsWith(".d.ts") ? [join(dir, d.name)] : [],
  );
}

t.test("surface - the declarations an entry reaches name only what some entry exports", async (t) => {
  const exported = new Set(entries.flatMap((e) => declaredExports(e.types)));
  const found: string[] = [];
  for (const source of program.getSourceFiles()) {
    if (!source.fileName.startsWith(dist + "/")) continue;
    const file = relative(dist, source.fileName);
    for (const statement of source.statements) {
      const flags = ts.getCombinedModifierFlags(statement as unknown as ts.Declaration);
      if (ts.isClassDeclaration(statement)) {
        for (const member of statement.members) {
          const memberFlags = ts.getCombinedModifierFlags(member);
          // A private constructor stays: without it, the class would look constructible.
          if (ts.isConstructorDeclaration(member) && memberFlags & ts.ModifierFlags.Private) continue;
          if (memberFlags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) {
            found.push(`${file}: ${statement.name?.text ?? "class"}.${member.name?.getText(source) ?? "constructor"}`);
          }
        }
      }
      if (!(flags & ts.ModifierFlags.Export)) continue;
      const names = ts.isVariableStatement(statement)
        ? statement.declarationList.declarations.map((d) => d.name.getText(source))
        : "name" in statement && statement.name !== undefined
          ? [(statement.name as ts.Identifier).text]
          : [];
      for (const name of names) if (!exported.has(name) && !(name in ALLOWED_UNEXPORTED)) found.push(`${file}: ${name}`);
    }
  }
  t.same(found, [], "no internal name in a reachable declaration file (tag it @internal, or export it from an entry)");
});

t.test("surface - no shipped declaration file keeps an @internal declaration", async (t) => {
  const files = declarationFiles(dist);
  t.ok(files.length > 10, `dist holds the declaration files (${files.length})`);
  const kept = files.filter((file) => readFileSync(file, "utf8").includes("@internal"));
  t.same(
    kept.map((file) => relative(dist, file)),
    [],
    "stripInternal is on in packages/twopc/tsconfig.json",
  );
});
