'use strict';
// The xlchat VS Code extension: spawns `xlchat serve` and offers a chat panel about the
// workbook of the active editor (or the file chosen in the explorer).
const vscode = require('vscode');
const path = require('path');
const { XLChatClient, locateBinary, firstCell, traceText } = require('./rpc');
const { panelHtml } = require('./panel');

let client = null;
let output = null;
const opened = new Map(); // key (path or buffer uri + version) → workbook/open result
let workspace = null; // the last workspace/open result (tables and unions follow workspace/didChange)

function config() { return vscode.workspace.getConfiguration('xlchat'); }

/** An error whose message is for the user as it is (a missing binary and its fix). */
class UserFacingError extends Error {}

function getClient() {
  if (client) return client;
  const c = config();
  const found = locateBinary(c.get('path') || null);
  // No binary: say what is wrong and how to install it, each time a command needs the server,
  // and start nothing (a later fix of the setting or an install is picked up on the next try).
  if (!found.binary) throw new UserFacingError(found.problem);
  client = new XLChatClient({
    binary: found.binary,
    env: { ...process.env, ...(c.get('env') || {}) },
    maxRestarts: c.get('maxRestarts', 3),
    clientName: 'xlchat-vscode',
  });
  client.on('stderr', (s) => output.append(s));
  client.on('notification', (method, params) => {
    if (method !== 'workspace/didChange' || !workspace || !params || params.workspaceId !== workspace.workspaceId) return;
    Object.assign(workspace, { tables: params.tables, unions: params.unions, workbooks: params.workbooks });
    const files = [...params.added, ...params.changed, ...params.removed];
    output.appendLine(`workspace: ${files.join(', ')} changed; re-indexed`);
  });
  client.on('restart', (n) => { opened.clear(); output.appendLine(`xlchat died; restart ${n}`); });
  client.on('gaveUp', () => vscode.window.showErrorMessage('xlchat server keeps dying; gave up restarting it (see the xlchat output).'));
  return client;
}

/** Shows an error as one line: the message, never a stack trace. */
function showError(e) {
  const message = e instanceof UserFacingError ? e.message : `xlchat: ${e && e.message ? e.message : String(e)}`;
  vscode.window.showErrorMessage(message);
}

/** The workbook to work on: the explorer's uri, else the active editor's document. */
function target(uri) {
  if (uri && uri.fsPath) return { uri, document: vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString()) };
  const ed = vscode.window.activeTextEditor;
  if (ed) return { uri: ed.document.uri, document: ed.document };
  return null;
}

/** workbook/open for a target: an unsaved (dirty or untitled) csv/tsv buffer goes as text. */
async function openTarget(t) {
  const c = getClient();
  const doc = t.document;
  const name = path.basename(t.uri.fsPath || t.uri.path);
  const isDelimited = doc && (/\.(csv|tsv)$/i.test(name) || ['csv', 'tsv'].includes(doc.languageId));
  if (doc && isDelimited && (doc.isDirty || doc.isUntitled)) {
    const format = /\.tsv$/i.test(name) || doc.languageId === 'tsv' ? 'tsv' : 'csv';
    const key = `${doc.uri.toString()}#${doc.version}`;
    if (!opened.has(key)) opened.set(key, await c.open({ text: doc.getText(), format, name }));
    return opened.get(key);
  }
  // The formats are the server's (its `initialize` result), not a list of our own.
  await c.ready();
  const formats = c.formats();
  const ext = path.extname(t.uri.fsPath || '').slice(1).toLowerCase();
  if (!t.uri.fsPath || !formats.includes(ext)) throw new Error(`${name} is not a workbook (${formats.join(', ')})`);
  return c.open(t.uri.fsPath);
}

/** The chat panel, about a workbook (`workbook`, opened from target `t`) or a workspace
 * (`ws`, a workspace/open result: citations name their files). */
class ChatPanel {
  constructor(workbook, t, ws) {
    this.workbook = workbook;
    this.workspace = ws || null;
    this.target = t;
    this.sessionId = undefined;
    this.current = null;
    this.fileIds = new Map(); // workspace file → its workbookId (for a citation's cells)
    const title = ws ? path.basename(ws.root) : path.basename(workbook.path);
    this.panel = vscode.window.createWebviewPanel('xlchat.chat', `xlchat: ${title}`,
      vscode.ViewColumn.Beside, { enableScripts: true, retainContextWhenHidden: true });
    this.panel.webview.html = panelHtml(this.panel.webview, ws
      ? { path: ws.root, workbookId: null, sheets: [], tables: ws.tables.map((t) => t.name).concat(ws.unions.map((u) => u.name)) }
      : workbook);
    this.panel.webview.onDidReceiveMessage((m) => this.onMessage(m).catch((e) => this.post({ type: 'error', message: e.message })));
    this.panel.onDidDispose(() => { if (this.current) this.current.cancel(); });
  }

  post(m) { this.panel.webview.postMessage(m); }

  async onMessage(m) {
    const c = getClient();
    if (m.type === 'ask') await this.ask(m.question);
    else if (m.type === 'cancel') { if (this.current) this.current.cancel(); }
    else if (m.type === 'openRange') {
      const r = await c.read(m.workbookId || await this.citedWorkbookId(m.file), m.sheet, m.range, 200);
      this.post({ type: 'range', file: m.file, sheet: r.sheet, range: r.range, rows: r.rows, truncated: r.truncated });
    } else if (m.type === 'traceCell') {
      // "Trace this cell" on a citation: its first cell's formula chain, as a tree.
      const cell = firstCell(m.range);
      const id = m.workbookId || await this.citedWorkbookId(m.file);
      const r = await (this.workspace ? c.trace(id, m.sheet, cell) : this.withWorkbook(() => c.trace(id, m.sheet, cell)));
      this.post({ type: 'trace', sheet: m.sheet, cell, result: r, text: traceText(r) });
    } else if (m.type === 'index') await this.index();
  }

  /** The workbookId of a cited workspace file (workbook/open of it: its index exists, so
   * nothing is read again); the panel's workbook for a workbook answer. */
  async citedWorkbookId(file) {
    if (!this.workspace || !file) return this.workbook.workbookId;
    if (!this.fileIds.has(file)) this.fileIds.set(file, (await getClient().open(path.join(this.workspace.root, file))).workbookId);
    return this.fileIds.get(file);
  }

  async index() {
    const c = getClient();
    const h = await c.buildIndex(this.workbook.workbookId, { onProgress: (v) => this.post({ type: 'progress', value: v }) });
    this.current = h;
    this.post({ type: 'busy', busy: true });
    try { const r = await h.promise; this.post({ type: 'indexed', result: r }); } finally { this.current = null; this.post({ type: 'busy', busy: false }); }
  }

  /** Runs fn(); when the server was restarted meanwhile (unknownWorkbook), reopens and retries once. */
  async withWorkbook(fn) {
    try { return await fn(); } catch (e) {
      if (e.kind !== 'unknownWorkbook' || !this.target) throw e;
      this.workbook = await openTarget(this.target);
      return fn();
    }
  }

  async ask(question) {
    const c = getClient();
    await c.ready();
    if (!c.hasMethod('chat/ask')) throw new Error('this xlchat server has no chat/ask (too old?)');
    this.post({ type: 'question', text: question });
    if (!this.workspace) {
      const status = await this.withWorkbook(() => c.request('index/status', { workbookId: this.workbook.workbookId })).catch(() => null);
      if (status && !status.built) await this.index();
    }
    const h = await c.ask(this.workspace ? { workspaceId: this.workspace.workspaceId } : this.workbook.workbookId, question, {
      sessionId: this.sessionId,
      model: config().get('model') || undefined,
      onDelta: (text) => this.post({ type: 'delta', text }),
      onStep: (step) => this.post({ type: 'step', step }),
      onStatus: (status) => this.post({ type: 'status', status }),
      onProgress: (v) => this.post({ type: 'progress', value: v }),
    });
    this.current = h;
    this.post({ type: 'busy', busy: true });
    try {
      const res = await h.promise;
      this.sessionId = res.sessionId;
      this.post({ type: 'answer', result: res });
    } catch (e) {
      this.post({ type: e.code === -32800 ? 'cancelled' : 'error', message: e.message });
    } finally { this.current = null; this.post({ type: 'busy', busy: false }); }
  }
}

async function cmdOpen(uri) {
  const t = target(uri);
  if (!t) { vscode.window.showWarningMessage('xlchat: open a workbook first (or pick one in the explorer).'); return; }
  try {
    const wb = await openTarget(t);
    output.appendLine(`opened ${wb.path} (${wb.format}, ${wb.sheets.length} sheets, id ${wb.workbookId})`);
    for (const s of wb.sheets) output.appendLine(`  ${s.name}: ${s.range || 'empty'}${s.table ? ` table ${s.table.name}` : ''}`);
    output.show(true);
    return wb;
  } catch (e) { showError(e); }
}

/** "Ask": the chat panel about the open workspace (xlchat: Open Workspace Folder) unless a
 * workbook is picked in the explorer, else about the active editor's workbook. */
async function cmdAsk(uri) {
  if (workspace && !(uri && uri.fsPath)) {
    try {
      const panel = new ChatPanel(null, null, workspace);
      const q = await vscode.window.showInputBox({ prompt: `Ask about the workspace ${path.basename(workspace.root)}` });
      if (q) await panel.ask(q);
      return panel;
    } catch (e) { showError(e); return; }
  }
  const t = target(uri);
  if (!t) { vscode.window.showWarningMessage('xlchat: open a workbook first (or pick one in the explorer).'); return; }
  try {
    const wb = await openTarget(t);
    const panel = new ChatPanel(wb, t);
    const q = await vscode.window.showInputBox({ prompt: `Ask about ${path.basename(wb.path)}` });
    if (q) await panel.ask(q);
  } catch (e) { showError(e); }
}

/** The folder for Open Workspace: the explorer's folder, else the first workspace folder. */
function workspaceRoot(uri) {
  if (uri && uri.fsPath) return uri.fsPath;
  const folders = vscode.workspace.workspaceFolders || [];
  return folders.length ? folders[0].uri.fsPath : null;
}

function printWorkspace(ws) {
  output.appendLine(`workspace ${ws.root}: ${ws.tables.length} tables, ${ws.unions.length} union views, ${ws.filesRead} files read (${ws.watching})`);
  for (const t of ws.tables) output.appendLine(`  ${t.name}: ${t.file} › ${t.sheet} (${t.rows} rows)`);
  for (const u of ws.unions) output.appendLine(`  ${u.name}: union of ${u.members.length} tables, with _file`);
  for (const w of ws.workbooks.filter((w) => w.status === 'error')) output.appendLine(`  not read: ${w.path}: ${w.errorKind}: ${w.error}`);
  for (const p of ws.problems) output.appendLine(`  skipped: ${p.path}: ${p.message}`);
  if (ws.truncated) output.appendLine(`  ${ws.truncated}`);
}

/** "Open Workspace Folder": every workbook under the folder in one SQL namespace, watched. */
async function cmdOpenWorkspace(uri) {
  const root = workspaceRoot(uri);
  if (!root) { vscode.window.showWarningMessage('xlchat: open a folder first (or pick one in the explorer).'); return; }
  try {
    const c = getClient();
    workspace = await c.request('workspace/open', { path: root });
    printWorkspace(workspace);
    output.show(true);
    return workspace;
  } catch (e) { showError(e); }
}

/** "Query Workspace": read-only SQL over the open workspace; rows (and warnings) to the output. */
async function cmdQueryWorkspace(sql) {
  if (!workspace) { vscode.window.showWarningMessage('xlchat: open a workspace folder first (xlchat: Open Workspace Folder).'); return; }
  const text = typeof sql === 'string' ? sql : await vscode.window.showInputBox({ prompt: `SQL over ${path.basename(workspace.root)} (tables: ${workspace.tables.map((t) => t.name).slice(0, 8).join(', ')})` });
  if (!text) return;
  try {
    const r = await getClient().request('workspace/query', { workspaceId: workspace.workspaceId, sql: text });
    output.appendLine(r.columns.join(' | '));
    for (const row of r.rows) output.appendLine(row.map((v) => (v === null ? '' : String(v))).join(' | '));
    for (const w of r.warnings || []) output.appendLine(`warning: ${w}`);
    if (r.stale) output.appendLine(`(${r.stale})`);
    output.show(true);
    return r;
  } catch (e) { showError(e); }
}

/** Command palette "Trace Cell": asks for `Sheet!F20` (or takes {sheet, cell}), prints the tree. */
async function cmdTrace(arg) {
  const t = target(arg && arg.uri);
  if (!t) { vscode.window.showWarningMessage('xlchat: open a workbook first (or pick one in the explorer).'); return; }
  try {
    const wb = await openTarget(t);
    let sheet = arg && arg.sheet, cell = arg && arg.cell;
    if (!cell) {
      const text = await vscode.window.showInputBox({ prompt: `Trace which cell of ${path.basename(wb.path)}? (Sheet!F20)` });
      if (!text) return;
      const bang = text.lastIndexOf('!');
      if (bang >= 0) { sheet = text.slice(0, bang).replace(/^'(.*)'$/, '$1').replace(/''/g, "'"); cell = text.slice(bang + 1); } else cell = text;
    }
    sheet = sheet || (wb.sheets[0] && wb.sheets[0].name);
    const r = await getClient().trace(wb.workbookId, sheet, firstCell(cell));
    const text = traceText(r);
    output.appendLine(text);
    output.show(true);
    return { result: r, text };
  } catch (e) { vscode.window.showErrorMessage(`xlchat: ${e.message}`); }
}

function activate(context) {
  output = vscode.window.createOutputChannel('xlchat');
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('xlchat.openWorkbook', cmdOpen),
    vscode.commands.registerCommand('xlchat.ask', cmdAsk),
    vscode.commands.registerCommand('xlchat.traceCell', cmdTrace),
    vscode.commands.registerCommand('xlchat.openWorkspace', cmdOpenWorkspace),
    vscode.commands.registerCommand('xlchat.queryWorkspace', cmdQueryWorkspace),
    vscode.commands.registerCommand('xlchat.restartServer', async () => {
      if (client) await client.stop();
      client = null; opened.clear(); workspace = null;
      try { await getClient().ready(); } catch (e) { showError(e); }
    }),
    vscode.workspace.onDidChangeConfiguration((e) => { if (e.affectsConfiguration('xlchat') && client) { client.stop(); client = null; opened.clear(); } }),
    { dispose: () => { if (client) client.stop(); } },
  );
}

function deactivate() { if (client) return client.stop(); }

module.exports = { activate, deactivate };
