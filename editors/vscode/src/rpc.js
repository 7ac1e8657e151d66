'use strict';
// JSON-RPC 2.0 client for `xlchat serve` (LSP-style Content-Length framing over stdio).
// No `vscode` import here: this module is used by the extension and tested with `node --test`.

const { spawn } = require('child_process');
const { EventEmitter } = require('events');
const path = require('path');
const fs = require('fs');

class RpcError extends Error {
  constructor(error) {
    super(error && error.message ? error.message : String(error));
    this.code = error && error.code;
    this.data = error && error.data;
    // -32001 carries the engine's error kind (fileNotFound, unknownWorkbook, ...).
    this.kind = error && error.data && error.data.kind;
  }
}

/** Splits a byte stream into Content-Length framed JSON messages. */
class FrameReader {
  constructor(onMessage, onJunk) {
    this.buf = Buffer.alloc(0);
    this.onMessage = onMessage;
    this.onJunk = onJunk || (() => {});
  }
  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const headerEnd = this.buf.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const header = this.buf.slice(0, headerEnd).toString('ascii');
      const m = /Content-Length:\s*(\d+)/i.exec(header);
      if (!m) {
        this.onJunk(header);
        this.buf = this.buf.slice(headerEnd + 4);
        continue;
      }
      const len = parseInt(m[1], 10);
      if (this.buf.length < headerEnd + 4 + len) return;
      const body = this.buf.slice(headerEnd + 4, headerEnd + 4 + len).toString('utf8');
      this.buf = this.buf.slice(headerEnd + 4 + len);
      let msg;
      try { msg = JSON.parse(body); } catch (e) { this.onJunk(body); continue; }
      this.onMessage(msg);
    }
  }
}

function frame(obj) {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

/** Where the .deb installs the binary, and where the README says to put a downloaded one. */
const INSTALLED_PATHS = ['/usr/bin/xlchat', '/usr/local/bin/xlchat'];

/** How to get the binary, for messages: said once, here. */
const INSTALL_HINT = 'Install xlchat: on Debian/Ubuntu `sudo apt install ./xlchat_<version>_<arch>.deb` '
  + '(from `bash scripts/release.sh` or a release), or put the `xlchat` binary on PATH; '
  + 'see "Install" in the xlchat README.';

function isExecutableFile(p) {
  try {
    if (!fs.statSync(p).isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch (_) { return false; }
}

/**
 * Finds the xlchat binary: the `xlchat.path` setting when given, else `xlchat` on PATH, else
 * /usr/bin/xlchat or /usr/local/bin/xlchat (an editor started from a desktop may have a short PATH).
 * Returns { binary } or { problem }: a sentence saying what is wrong and how to fix it, meant to be
 * shown to the user as it is (no stack trace).
 */
function locateBinary(explicit, { envPath = process.env.PATH || '', installed = INSTALLED_PATHS } = {}) {
  if (explicit) {
    const p = path.resolve(explicit);
    let st;
    try { st = fs.statSync(p); } catch (_) {
      return { problem: `The xlchat binary set in "xlchat.path" (${p}) does not exist. Fix the setting, or clear it `
        + `to use xlchat from PATH. ${INSTALL_HINT}` };
    }
    if (st.isDirectory()) {
      return { problem: `"xlchat.path" (${p}) is a directory; set it to the xlchat binary itself (e.g. ${path.join(p, 'xlchat')}).` };
    }
    if (!isExecutableFile(p)) {
      return { problem: `The xlchat binary set in "xlchat.path" (${p}) is not executable. Fix it with: chmod +x '${p}'` };
    }
    return { binary: p };
  }
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, 'xlchat');
    if (isExecutableFile(p)) return { binary: p };
  }
  for (const p of installed) if (isExecutableFile(p)) return { binary: p };
  return { problem: `The xlchat binary was not found (not on PATH, not in ${installed.join(' or ')}). ${INSTALL_HINT} `
    + 'Or set "xlchat.path" to the binary.' };
}

/** The binary's path, or null: `locateBinary` without the explanation. */
function findBinary(explicit, envPath = process.env.PATH || '', installed = INSTALLED_PATHS) {
  return locateBinary(explicit, { envPath, installed }).binary || null;
}

/**
 * One running `xlchat serve` process and its JSON-RPC connection.
 * Events: 'notification' (method, params), 'progress' (token, value), 'exit' (code, signal),
 * 'stderr' (text).
 */
class Connection extends EventEmitter {
  constructor(binary, { args = ['serve'], env, cwd } = {}) {
    super();
    this.nextId = 1;
    this.pending = new Map();
    this.closed = false;
    this.proc = spawn(binary, args, { env: env || process.env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.reader = new FrameReader((m) => this._dispatch(m), (junk) => this.emit('stderr', `unreadable frame: ${junk}\n`));
    this.proc.stdout.on('data', (c) => this.reader.push(c));
    this.proc.stderr.on('data', (c) => this.emit('stderr', c.toString('utf8')));
    this.proc.stdin.on('error', () => {});
    this.proc.on('error', (err) => this._closed(null, null, err));
    this.proc.on('exit', (code, signal) => this._closed(code, signal));
  }

  _closed(code, signal, err) {
    if (this.closed) return;
    this.closed = true;
    const reason = err ? err.message : `xlchat exited (code ${code}${signal ? `, signal ${signal}` : ''})`;
    for (const [, p] of this.pending) p.reject(new RpcError({ code: -32099, message: reason }));
    this.pending.clear();
    this.emit('exit', code, signal, err);
  }

  _dispatch(msg) {
    if (Array.isArray(msg)) { msg.forEach((m) => this._dispatch(m)); return; }
    if (msg.method !== undefined) {
      if (msg.id !== undefined) {
        // The server asked us something: we answer nothing we do not know.
        this._send({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: `unknown method ${msg.method}` } });
        return;
      }
      if (msg.method === '$/progress' && msg.params) this.emit('progress', msg.params.token, msg.params.value);
      this.emit('notification', msg.method, msg.params);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(new RpcError(msg.error)); else p.resolve(msg.result);
  }

  _send(obj) {
    if (this.closed) throw new RpcError({ code: -32099, message: 'xlchat is not running' });
    this.proc.stdin.write(frame(obj));
  }

  /** Sends a request; returns {id, promise}. */
  start(method, params) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      try { this._send({ jsonrpc: '2.0', id, method, params: params === undefined ? {} : params }); } catch (e) {
        this.pending.delete(id); reject(e);
      }
    });
    return { id, promise };
  }

  request(method, params) { return this.start(method, params).promise; }

  notify(method, params) { this._send({ jsonrpc: '2.0', method, params: params === undefined ? {} : params }); }

  /** Cancels a running request: the server answers it with -32800. */
  cancel(id) { if (!this.closed && this.pending.has(id)) this.notify('$/cancelRequest', { id }); }

  /** shutdown + exit; resolves once the process is gone. */
  async stop(timeoutMs = 3000) {
    if (this.closed) return;
    const gone = new Promise((r) => this.once('exit', r));
    try {
      await Promise.race([this.request('shutdown'), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), timeoutMs))]);
      this.notify('exit');
      this.proc.stdin.end();
    } catch (_) {
      this.proc.kill('SIGTERM');
    }
    await Promise.race([gone, new Promise((r) => setTimeout(r, timeoutMs))]);
    if (!this.closed) this.proc.kill('SIGKILL');
  }
}

let tokenCounter = 0;

/**
 * The xlchat service the clients use: starts `xlchat serve`, initializes it, restarts it (at most
 * `maxRestarts` times) when it dies unexpectedly, and offers the xlchat methods.
 */
class XLChatClient extends EventEmitter {
  constructor({ binary, args = ['serve'], env, maxRestarts = 3, clientName = 'xlchat-node' } = {}) {
    super();
    this.binary = binary;
    this.args = args;
    this.env = env;
    this.maxRestarts = maxRestarts;
    this.restarts = 0;
    this.clientName = clientName;
    this.conn = null;
    this.initResult = null;
    this.stopping = false;
    this._ready = null;
  }

  /** Starts the server (if not running) and resolves with the `initialize` result. */
  ready() {
    if (!this._ready) this._ready = this._launch();
    return this._ready;
  }

  async _launch() {
    if (!this.binary) throw new RpcError({ code: -32099, message: 'xlchat binary not found: set xlchat.path or put xlchat on PATH' });
    const conn = new Connection(this.binary, { args: this.args, env: this.env });
    this.conn = conn;
    conn.on('notification', (m, p) => this.emit('notification', m, p));
    conn.on('progress', (t, v) => this.emit('progress', t, v));
    conn.on('stderr', (s) => this.emit('stderr', s));
    conn.on('exit', (code, signal) => this._onExit(conn, code, signal));
    const result = await conn.request('initialize', {
      processId: process.pid,
      clientInfo: { name: this.clientName, version: '0.1.0' },
    });
    conn.notify('initialized', {});
    this.initResult = result;
    return result;
  }

  _onExit(conn, code, signal) {
    if (conn !== this.conn) return;
    this._ready = null;
    if (this.stopping) return;
    if (this.restarts >= this.maxRestarts) {
      this.emit('gaveUp', code, signal);
      return;
    }
    this.restarts += 1;
    this.emit('restart', this.restarts, code, signal);
    this.ready().catch((e) => this.emit('stderr', `restart failed: ${e.message}\n`));
  }

  /**
   * The workbook formats the server reads (file extensions without the dot, lowercase), as its
   * `initialize` result lists them: the one list, so a new format needs no client change.
   */
  formats() {
    return ((this.initResult && this.initResult.capabilities && this.initResult.capabilities.formats) || []).map((f) => f.toLowerCase());
  }

  hasMethod(name) {
    return !!(this.initResult && this.initResult.capabilities && (this.initResult.capabilities.methods || []).includes(name));
  }

  async request(method, params) { await this.ready(); return this.conn.request(method, params); }

  /** Starts a request and returns {id, promise, cancel()} so a UI can cancel it. */
  async startRequest(method, params) {
    await this.ready();
    const conn = this.conn;
    const { id, promise } = conn.start(method, params);
    return { id, promise, cancel: () => conn.cancel(id) };
  }

  /** workbook/open for a file path, or for an unsaved csv/tsv buffer ({text, format, name}). */
  open(pathOrBuffer) {
    const params = typeof pathOrBuffer === 'string' ? { path: pathOrBuffer } : pathOrBuffer;
    return this.request('workbook/open', params);
  }

  read(workbookId, sheet, range, limit) {
    const p = { workbookId, sheet };
    if (range) p.range = range;
    if (limit) p.limit = limit;
    return this.request('workbook/read', p);
  }

  query(workbookId, sql, limit) {
    const p = { workbookId, sql };
    if (limit) p.limit = limit;
    return this.request('workbook/query', p);
  }

  close(workbookId) { return this.request('workbook/close', { workbookId }); }

  /** workbook/trace: how one cell is computed (its formula chain and dependents). */
  trace(workbookId, sheet, cell, depth) {
    const p = { workbookId, sheet, cell };
    if (depth) p.depth = depth;
    return this.request('workbook/trace', p);
  }

  /**
   * index/build with progress: onProgress(value) gets each $/progress value.
   * Returns {id, promise, cancel}.
   */
  async buildIndex(workbookId, { force, onProgress } = {}) {
    const token = `xlchat-index-${process.pid}-${++tokenCounter}`;
    const listener = (t, v) => { if (t === token && onProgress) onProgress(v); };
    this.on('progress', listener);
    const params = { workbookId, workDoneToken: token };
    if (force) params.force = true;
    const handle = await this.startRequest('index/build', params);
    handle.promise = handle.promise.finally(() => this.off('progress', listener));
    return handle;
  }

  /**
   * chat/ask, streaming: onDelta(text) for each chat/delta, onStep(step) for each chat/step,
   * onStatus(status) for each chat/status ({phase, step, promptTokens?, contextTokens?, elapsedMs}),
   * onProgress(value) for $/progress. Returns {id, promise, cancel}; the promise resolves with
   * {answer, citations, sessionId, model, cached, durationMs, ungrounded}.
   */
  /** chat/ask about a workbook (`target` its workbookId) or a workspace (`target` =
   * { workspaceId }); the handle's promise is the result, deltas/steps/status go to the callbacks. */
  async ask(target, question, { sessionId, model, onDelta, onStep, onStatus, onProgress } = {}) {
    await this.ready();
    const token = `xlchat-ask-${process.pid}-${++tokenCounter}`;
    let myId = null;
    const early = [];
    const onNote = (method, params) => {
      if (!params || (method !== 'chat/delta' && method !== 'chat/step' && method !== 'chat/status')) return;
      if (myId === null) { early.push([method, params]); return; }
      if (params.requestId !== myId && String(params.requestId) !== String(myId)) return;
      if (method === 'chat/delta' && onDelta) onDelta(params.text);
      if (method === 'chat/step' && onStep) onStep(params);
      if (method === 'chat/status' && onStatus) onStatus(params);
    };
    const onProg = (t, v) => { if (t === token && onProgress) onProgress(v); };
    this.on('notification', onNote);
    this.on('progress', onProg);
    const params = typeof target === 'string' ? { workbookId: target, question, workDoneToken: token }
      : { workspaceId: target.workspaceId, question, workDoneToken: token };
    if (sessionId) params.sessionId = sessionId;
    if (model) params.model = model;
    const handle = await this.startRequest('chat/ask', params);
    myId = handle.id;
    for (const [m, p] of early.splice(0)) onNote(m, p);
    handle.promise = handle.promise.finally(() => {
      this.off('notification', onNote);
      this.off('progress', onProg);
    });
    return handle;
  }

  async stop() {
    this.stopping = true;
    this._ready = null;
    if (this.conn) await this.conn.stop();
  }
}

/** The first cell of an A1 range (`B2:D9` → `B2`, `A:A` → `A1`, `3:5` → `A3`): the cell a
 * "trace this cell" on a citation traces. */
function firstCell(range) {
  const first = String(range).split(':')[0].replace(/\$/g, '');
  if (/^[A-Za-z]+$/.test(first)) return first.toUpperCase() + '1';
  if (/^\d+$/.test(first)) return 'A' + first;
  return first.toUpperCase();
}

function traceValue(v) {
  if (v === null || v === undefined) return '(empty)';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return v.error || JSON.stringify(v);
  return String(v);
}

/** One entry of a workbook/trace tree as a line (the same shape `xlchat trace` prints). */
function traceLine(e) {
  let s;
  if (e.kind === 'name') s = `${e.name || ''} (name)` + (e.ref ? ` = ${e.ref}` : '');
  else if (e.kind === 'range') s = e.ref;
  else {
    s = e.ref;
    if (e.formula) s += '  =' + e.formula;
    if ('value' in e) s += '  → ' + traceValue(e.value) + (e.computed ? '  (computed: no value saved in the file)' : '');
  }
  if (e.dynamic && e.dynamic.length) s += `  [uses ${e.dynamic.join(', ')}]`;
  if (e.truncated) s += '  …';
  return s;
}

/** A workbook/trace result as text: the precedents as a tree, then the dependents. */
function traceText(result) {
  const out = [];
  const walk = (e, prefix, last, root) => {
    out.push(root ? traceLine(e) : prefix + (last ? '└─ ' : '├─ ') + traceLine(e));
    const child = root ? '' : prefix + (last ? '   ' : '│  ');
    (e.precedents || []).forEach((p, i, all) => walk(p, child, i === all.length - 1, false));
  };
  walk(result.cell, '', true, true);
  if ((result.dependents || []).length) {
    out.push('Used by:');
    for (const d of result.dependents) out.push('  ' + traceLine(d));
    if (result.dependentsTruncated) out.push('  …');
  }
  return out.join('\n');
}

module.exports = { XLChatClient, Connection, FrameReader, RpcError, findBinary, locateBinary, INSTALLED_PATHS, INSTALL_HINT, frame, firstCell, traceText };
