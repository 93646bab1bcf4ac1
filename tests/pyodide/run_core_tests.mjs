// Run the core's pytest suite (tests/core/) inside Pyodide, under Node.
//
//   node tests/pyodide/run_core_tests.mjs [pytest args...]     (or: npm run test:pyodide)
//
// Pyodide comes from the npm package (node_modules/pyodide: the interpreter and
// the standard library, no micropip, no packages). pytest, hypothesis and their
// dependencies are installed from wheels that tests/pyodide/fetch_wheels.py keeps
// in .cache/pyodide-wheels/. core/ and tests/ are copied into Pyodide's in-memory
// file system: /src/core (on sys.path) and /tests; tests/pyodide/driver.py runs
// pytest (the same driver runs the suite in Chromium: e2e/test_core_in_chromium.py).
// Output streams as it comes; the exit status is pytest's.
//
// Extra arguments go to pytest, e.g.  -k breaker  or  tests/core/test_retry.py
// (paths as from the repo root; given any, they replace the default tests/core).
//
// Environment: PYTHON - the interpreter that runs fetch_wheels.py (default:
// .venv/bin/python when it exists, else python3).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

function fail(message) {
  process.stderr.write(`run_core_tests: ${message}\n`);
  process.exit(2);
}

function fetchWheels() {
  const venvPython = path.join(REPO, ".venv", "bin", "python");
  const python = process.env.PYTHON || (fs.existsSync(venvPython) ? venvPython : "python3");
  const result = spawnSync(python, [path.join(REPO, "tests", "pyodide", "fetch_wheels.py")], {
    cwd: REPO,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (result.error) fail(`could not run ${python}: ${result.error.message}`);
  if (result.status !== 0) fail(`fetch_wheels.py failed (exit ${result.status})`);
  return result.stdout.split("\n").filter((line) => line.trim() !== "");
}

// Files under `dir` (relative paths), skipping caches.
function listFiles(dir, keep) {
  const out = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (entry.name !== "__pycache__" && !entry.name.startsWith(".")) walk(child);
      } else if (entry.isFile() && keep(child)) {
        out.push(child);
      }
    }
  };
  walk("");
  return out;
}

function copyInto(pyodide, hostDir, fsDir, keep) {
  let count = 0;
  for (const rel of listFiles(hostDir, keep)) {
    const target = `${fsDir}/${rel}`;
    pyodide.FS.mkdirTree(path.posix.dirname(target));
    pyodide.FS.writeFile(target, fs.readFileSync(path.join(hostDir, rel)));
    count += 1;
  }
  return count;
}

function asBytes(buffer) {
  // unpackArchive wants a plain typed array, not a Node Buffer.
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

async function main() {
  const started = Date.now();
  const testsCore = path.join(REPO, "tests", "core");
  if (!fs.existsSync(path.join(REPO, "node_modules", "pyodide"))) fail("node_modules/pyodide is missing: run `npm ci` (or `make test`)");
  if (!fs.existsSync(testsCore)) fail("tests/core/ does not exist");

  const wheels = fetchWheels();
  const { loadPyodide } = await import("pyodide");

  // sys.argv stays empty: pytest gets its arguments through pytest.main below.
  const pyodide = await loadPyodide({ args: [], env: { HOME: "/home/pyodide" } });
  const write = (stream) => ({
    write(bytes) {
      stream.write(bytes);
      return bytes.length;
    },
  });
  pyodide.setStdout(write(process.stdout));
  pyodide.setStderr(write(process.stderr));

  const version = pyodide.runPython("import sys; sys.version.split()[0]");
  const sitePackages = pyodide.runPython("import sysconfig, os.path; os.path.normpath(sysconfig.get_paths()['purelib'])");
  for (const wheel of wheels) {
    pyodide.unpackArchive(asBytes(fs.readFileSync(wheel)), "wheel", { extractDir: sitePackages });
  }
  // The core as the browser's core wheel has it: llm_runner_router/{__init__,__version__}.py and core/.
  const pkg = path.join(REPO, "llm_runner_router");
  for (const name of ["__init__.py", "__version__.py"]) {
    pyodide.FS.mkdirTree("/src/llm_runner_router");
    pyodide.FS.writeFile(`/src/llm_runner_router/${name}`, fs.readFileSync(path.join(pkg, name)));
  }
  const coreFiles = copyInto(pyodide, path.join(REPO, "core"), "/src/llm_runner_router/core", (rel) => rel.endsWith(".py"));
  // pyproject.toml at / makes / the rootdir and applies the project's pytest
  // settings (addopts "-ra -v", markers, ...), so test ids read as on CPython.
  pyodide.FS.writeFile("/pyproject.toml", fs.readFileSync(path.join(REPO, "pyproject.toml")));
  // tests/__init__.py and tests/conftest.py, when present, then all of tests/core/.
  pyodide.FS.mkdirTree("/tests/core");
  for (const name of ["__init__.py", "conftest.py"]) {
    const host = path.join(REPO, "tests", name);
    if (fs.existsSync(host)) pyodide.FS.writeFile(`/tests/${name}`, fs.readFileSync(host));
  }
  const testFiles = copyInto(pyodide, testsCore, "/tests/core", (rel) => !rel.endsWith(".pyc"));
  const setupSeconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `run_core_tests: Pyodide ${pyodide.version}, Python ${version} (emscripten); ` +
      `${wheels.length} wheels, ${coreFiles} core files, ${testFiles} test files; set up in ${setupSeconds}s\n`,
  );

  const color = process.stdout.isTTY ? "yes" : "no";
  // "-v -ra" come from pyproject.toml's addopts, as on CPython. The working
  // directory is /, so paths given as on the host (tests/core/test_x.py) work.
  const extra = process.argv.slice(2);
  const givesPaths = extra.some((arg) => /^\/?tests\//.test(arg));
  const args = ["-p", "no:cacheprovider", `--color=${color}`, ...(givesPaths ? [] : ["/tests/core"]), ...extra];
  // tests/pyodide/driver.py (shared with the Chromium runner, e2e/test_core_in_chromium.py) runs pytest.
  pyodide.runPython(fs.readFileSync(path.join(REPO, "tests", "pyodide", "driver.py"), "utf8"));
  pyodide.globals.set("pytest_args", pyodide.toPy(args));
  const status = pyodide.runPython('run(list(pytest_args), src="/src")');
  process.stdout.write(`run_core_tests: pytest exited ${status} after ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  return status;
}

main().then(
  (status) => process.exit(status),
  (error) => {
    // Print the message and stack only: a raw Pyodide error would dump its whole minified source.
    process.stderr.write(`run_core_tests: ${error && error.stack ? error.stack : error}\n`);
    process.exit(3);
  },
);
