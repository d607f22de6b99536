#!/usr/bin/env node
// Run a MicroPython script on the real MicroPython VM (WebAssembly port, pinned in
// package.json) with the device tree loaded into the VM's filesystem.
//
//   node tools/mpvm/run.mjs [--mpy] [--mpy-dir DIR] [--out DIR] [--timeout S] [--heap BYTES]
//                           [--pystack N] [--root DIR] [--lib PATH]... [--no-install]
//                           script.py [args...]
//
// VM filesystem:
//   /app     the device tree: boot.py, main.py, drivers/ firmware/ safety/ waveforms/ as .py
//            sources, or with --mpy as the .mpy files of `make mpy` (build/mpy/, data files such
//            as firmware/presets/*.json included); boot.py/main.py stay sources as on a board;
//            vhw/ (the fakes) always as .py. The working directory is /app (a board's is /).
//   /script  the script and the .py files beside it (e.g. host_tests/mp_tests/mptest.py)
//   /extra   files and folders given with --lib
//   /out     written by the script; copied back to --out DIR when the script ends
// sys.path = ['/script', '/extra', '/app', '', '.frozen', '/lib']; sys.argv = [script, args...]
//
// Before the script: `import vhw.install; vhw.install.install_mp()` when vhw/install.py
// exists and defines install_mp (puts vhw.machine in sys.modules['machine']), unless
// --no-install. --romfs IMAGE: the device tree from a ROMFS image (`mpremote romfs build`),
// mounted at /rom and run in place as on a board with a ROMFS partition. --post-mem: after the script, in a separate runPython call, gc.collect() and
// print "MPVM_MEM_ALLOC <bytes>" (what the script left reachable, e.g. in vhw._keep).
//
// --heap: the initial GC heap (default 8 MiB). This port adds heap areas on demand, but one
// allocation cannot exceed an area: gc.mem_alloc() is meaningful, gc.mem_free() is not a
// board's figure. Recursion is limited to a few hundred frames (roughly like a board).
//
// Exit status: the script's SystemExit code, 1 when it raised, 124 on timeout (the VM runs in
// a worker thread that is terminated: a MemoryError escaping heap_lock spins forever),
// 2 on a usage error.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const HERE = path.dirname(url.fileURLToPath(import.meta.url));
const DEVICE_DIRS = ["drivers", "firmware", "safety", "waveforms"];
const ENTRY_FILES = ["boot.py", "main.py"];
const SKIP_NAMES = new Set(["__pycache__", ".mypy_cache", ".ruff_cache"]);
// Host-only files inside the device folders (the freeze manifest is not a device module).
const HOST_ONLY = new Set(["firmware/manifest.py"]);

function usage(msg) {
  if (msg) process.stderr.write(`mpvm: ${msg}\n`);
  process.stderr.write(
    "usage: node tools/mpvm/run.mjs [--mpy] [--mpy-dir DIR] [--out DIR] [--timeout S] " +
      "[--heap BYTES] [--pystack N] [--root DIR] [--lib PATH]... [--no-install] [--post-mem] " +
      "[--romfs IMAGE] " +
      "script.py [args...]\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    mpy: false, mpyDir: null, out: null, timeout: 120, heap: 8 * 1024 * 1024, pystack: 16384,
    root: path.resolve(HERE, "..", ".."), libs: [], install: true, script: null, args: [],
  };
  let i = 0;
  const val = (name) => {
    if (i + 1 >= argv.length) usage(`${name} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--mpy") o.mpy = true;
    else if (a === "--mpy-dir") { o.mpy = true; o.mpyDir = path.resolve(val(a)); }
    else if (a === "--out") o.out = val(a);
    else if (a === "--timeout") o.timeout = Number(val(a));
    else if (a === "--heap") o.heap = Number(val(a));
    else if (a === "--pystack") o.pystack = Number(val(a));
    else if (a === "--root") o.root = path.resolve(val(a));
    else if (a === "--lib") o.libs.push(path.resolve(val(a)));
    else if (a === "--no-install") o.install = false;
    else if (a === "--post-mem") o.postMem = true;
    else if (a === "--romfs") o.romfs = path.resolve(val(a));
    else if (a === "-h" || a === "--help") usage();
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else {
      o.script = path.resolve(a);
      o.args = argv.slice(i + 1);
      break;
    }
  }
  if (!o.script) usage("no script given");
  if (!fs.existsSync(o.script)) usage(`no such script: ${o.script}`);
  if (!(o.timeout > 0)) usage("--timeout must be > 0");
  return o;
}

// ---- host side: list the files that go into the VM ([vmPath, hostPath] pairs) ----

function walk(hostDir, vmDir, pairs, filter) {
  if (!fs.existsSync(hostDir)) return;
  for (const ent of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (SKIP_NAMES.has(ent.name) || ent.name.startsWith(".")) continue;
    const h = path.join(hostDir, ent.name);
    const v = `${vmDir}/${ent.name}`;
    if (ent.isDirectory()) walk(h, v, pairs, filter);
    else if (ent.isFile() && filter(h, v)) pairs.push([v, h]);
  }
}

function collectFiles(o) {
  const pairs = [];
  const rel = (v) => v.slice("/app/".length);
  const noPyc = (h) => !h.endsWith(".pyc");
  if (o.romfs) {
    // the device tree comes from the ROMFS image (mounted at /rom); only vhw goes to /app
  } else {
  for (const f of ENTRY_FILES) {
    const h = path.join(o.root, f);
    if (fs.existsSync(h)) pairs.push([`/app/${f}`, h]);
  }
  }
  if (o.romfs) {
    // nothing more
  } else if (o.mpy) {
    const mpyRoot = o.mpyDir || path.join(o.root, "build", "mpy");
    if (!fs.existsSync(mpyRoot)) {
      process.stderr.write(`mpvm: ${mpyRoot} does not exist: run \`make mpy\` first\n`);
      process.exit(2);
    }
    for (const d of DEVICE_DIRS) {
      // compiled modules from build/mpy, data files (JSON programs ...) from the sources,
      // so the VM sees what a board gets
      walk(path.join(mpyRoot, d), `/app/${d}`, pairs, (h) => h.endsWith(".mpy"));
      walk(path.join(o.root, d), `/app/${d}`, pairs,
        (h, v) => !h.endsWith(".py") && noPyc(h) && !HOST_ONLY.has(rel(v)));
    }
  } else {
    for (const d of DEVICE_DIRS) {
      walk(path.join(o.root, d), `/app/${d}`, pairs,
        (h, v) => noPyc(h) && !HOST_ONLY.has(rel(v)));
    }
  }
  walk(path.join(o.root, "vhw"), "/app/vhw", pairs, noPyc);
  const sdir = path.dirname(o.script);
  for (const ent of fs.readdirSync(sdir, { withFileTypes: true })) {
    if (ent.isFile() && ent.name.endsWith(".py")) {
      pairs.push([`/script/${ent.name}`, path.join(sdir, ent.name)]);
    }
  }
  for (const lib of o.libs) {
    if (!fs.existsSync(lib)) usage(`no such --lib path: ${lib}`);
    const base = path.basename(lib);
    if (fs.statSync(lib).isDirectory()) walk(lib, `/extra/${base}`, pairs, noPyc);
    else pairs.push([`/extra/${base}`, lib]);
  }
  return pairs;
}

// ---- VM side (worker thread) ----

const BOOTSTRAP = String.raw`
def _mpvm_run(script, argv, install):
    import sys, os, micropython
    sys.path[:] = ['/script', '/extra', '/rom', '/app', '', '.frozen', '/lib']
    sys.argv[:] = argv
    os.chdir('/app')
    rc = 0
    try:
        if install:
            try:
                os.stat('/app/vhw/install.py')
                have = True
            except OSError:
                have = False
            if have:
                import vhw.install
                if hasattr(vhw.install, 'install_mp'):
                    vhw.install.install_mp()
        with open(script) as f:
            src = f.read()
        code = compile(src, script, 'exec')
        del src
        exec(code, {'__name__': '__main__', '__file__': script})
    except SystemExit as e:
        a = e.args[0] if e.args else None
        if a is None:
            rc = 0
        elif isinstance(a, int):
            rc = a
        else:
            print(a, file=sys.stderr)
            rc = 1
    except BaseException as e:
        # a test that forgot to unlock: unlock so that the report can be printed
        try:
            while micropython.heap_unlock():
                pass
        except Exception:
            pass
        sys.print_exception(e, sys.stderr)
        rc = 1
    return rc
`;

function mkdirs(FS, p) {
  let cur = "";
  for (const part of p.split("/").filter(Boolean)) {
    cur += "/" + part;
    try {
      FS.mkdir(cur);
    } catch (e) {
      // exists
    }
  }
}

function copyOut(FS, vmDir, hostDir) {
  let n = 0;
  let names;
  try {
    names = FS.readdir(vmDir);
  } catch (e) {
    return 0;
  }
  fs.mkdirSync(hostDir, { recursive: true });
  for (const name of names) {
    if (name === "." || name === "..") continue;
    const v = `${vmDir}/${name}`;
    const h = path.join(hostDir, name);
    const st = FS.stat(v);
    if (FS.isDir(st.mode)) n += copyOut(FS, v, h);
    else {
      fs.writeFileSync(h, FS.readFile(v));
      n++;
    }
  }
  return n;
}

async function workerMain() {
  const o = workerData;
  const post = (t, s) => parentPort.postMessage({ t, s });
  const lineSink = (t) => {
    let buf = [];
    const dec = new TextDecoder();
    return {
      put(c) {
        buf.push(c);
        if (c === 10 || buf.length >= 4096) this.flush();
      },
      flush() {
        if (buf.length) post(t, dec.decode(new Uint8Array(buf)));
        buf = [];
      },
    };
  };
  const out = lineSink("out");
  const err = lineSink("err");
  const { loadMicroPython } = await import(
    "@micropython/micropython-webassembly-pyscript/micropython.mjs"
  );
  const mp = await loadMicroPython({
    heapsize: o.heap, pystack: o.pystack, linebuffer: false,
    romfs: o.romfs ? new Uint8Array(fs.readFileSync(o.romfs)) : undefined,
    stdout: (b) => { for (const c of b) out.put(c); },
    stderr: (b) => { for (const c of b) err.put(c); },
  });
  const FS = mp.FS;
  for (const [v, h] of o.files) {
    mkdirs(FS, path.posix.dirname(v));
    FS.writeFile(v, fs.readFileSync(h));
  }
  for (const d of ["/app", "/script", "/extra", "/out"]) mkdirs(FS, d);
  const vmScript = `/script/${path.basename(o.script)}`;
  let rc;
  try {
    mp.runPython(BOOTSTRAP);
    const argv = [vmScript, ...o.args].map((a) => JSON.stringify(a)).join(", ");
    mp.runPython(`_mpvm_rc = _mpvm_run(${JSON.stringify(vmScript)}, [${argv}], ${o.install ? "True" : "False"})`);
    rc = mp.globals.get("_mpvm_rc");
    if (o.postMem) {
      // A collect inside one runPython call frees nothing on this port (the call's own frames
      // hold the garbage); a later call sees only what is really retained. Scripts keep what
      // they want measured in a module attribute (e.g. vhw._keep).
      mp.runPython("import gc\ngc.collect()\nprint('MPVM_MEM_ALLOC', gc.mem_alloc())");
    }
  } catch (e) {
    // only reached when the bootstrap itself failed
    err.put(10);
    post("err", `mpvm: VM error: ${e.type || e.name}: ${e.message}\n`);
    rc = 1;
  }
  out.flush();
  err.flush();
  if (o.out) {
    const n = copyOut(FS, "/out", o.out);
    post("info", n);
  }
  parentPort.postMessage({ t: "done", rc });
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(HERE, "node_modules", "@micropython"))) {
    process.stderr.write("mpvm: tools/mpvm/node_modules is missing: run `make node`\n");
    process.exit(2);
  }
  const files = collectFiles(o);
  const worker = new Worker(url.fileURLToPath(import.meta.url), {
    workerData: {
      files, script: o.script, args: o.args, heap: o.heap, pystack: o.pystack,
      out: o.out ? path.resolve(o.out) : null, install: o.install, postMem: !!o.postMem,
      romfs: o.romfs || null,
    },
    stdout: false, stderr: false,
  });
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    process.stderr.write(
      `\nmpvm: timeout after ${o.timeout} s: VM killed (script ${path.basename(o.script)})\n`,
    );
    worker.terminate().finally(() => process.exit(124));
  }, o.timeout * 1000);
  worker.on("message", (m) => {
    if (m.t === "out") process.stdout.write(m.s);
    else if (m.t === "err") process.stderr.write(m.s);
    else if (m.t === "done") {
      done = true;
      clearTimeout(timer);
      const rc = Number.isInteger(m.rc) ? m.rc : 1;
      // let stdout drain before exiting
      process.stdout.write("", () => process.exit(rc & 0xff));
    }
  });
  worker.on("error", (e) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    process.stderr.write(`mpvm: worker error: ${e && e.message ? e.message.slice(0, 500) : e}\n`);
    process.exit(1);
  });
  worker.on("exit", (code) => {
    if (!done) {
      done = true;
      clearTimeout(timer);
      process.stderr.write(`mpvm: VM exited unexpectedly (${code})\n`);
      process.exit(1);
    }
  });
}

if (isMainThread) main();
else await workerMain();
