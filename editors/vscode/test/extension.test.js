'use strict';
// The extension's wiring: package.json against what activate() registers, and the "sheet that is
// open" rule (an unsaved csv/tsv buffer goes as text) against the real server. VS Code itself
// cannot run here, so `vscode` is a small stand-in that records calls.
const test = require('node:test');
const assert = require('node:assert/strict');
const Module = require('module');
const path = require('path');
const fs = require('fs');
const h = require('./helpers');
const { XLChatClient } = require('../src/rpc');

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));

function makeVscode(settings) {
  const calls = { commands: {}, errors: [], infos: [], output: [], panels: [] };
  const vscode = {
    calls,
    ViewColumn: { Beside: -2 },
    workspace: {
      textDocuments: [],
      getConfiguration: () => ({ get: (k, d) => (k in settings ? settings[k] : d) }),
      onDidChangeConfiguration: () => ({ dispose() {} }),
    },
    window: {
      activeTextEditor: undefined,
      createOutputChannel: () => ({ append: (s) => calls.output.push(s), appendLine: (s) => calls.output.push(s + '\n'), show() {}, dispose() {} }),
      showErrorMessage: (m) => calls.errors.push(m),
      showWarningMessage: (m) => calls.errors.push(m),
      showInformationMessage: (m) => calls.infos.push(m),
      showInputBox: async () => settings.__question,
      createWebviewPanel: (id, title) => {
        const p = { id, title, messages: [], handler: null, onMessage: null, onDidDispose: () => ({}),
          webview: { cspSource: 'vscode-resource:', html: '',
            postMessage: (m) => { p.messages.push(m); if (p.onMessage) p.onMessage(m); },
            onDidReceiveMessage: (fn) => { p.handler = fn; return { dispose() {} }; } } };
        calls.panels.push(p);
        return p;
      },
    },
    commands: { registerCommand: (id, fn) => { calls.commands[id] = fn; return { dispose() {} }; } },
  };
  return vscode;
}

function loadExtension(vscode) {
  const orig = Module._load;
  Module._load = function (request, parent, isMain) {
    if (request === 'vscode') return vscode;
    return orig.call(this, request, parent, isMain);
  };
  try {
    const p = require.resolve('../src/extension');
    delete require.cache[p];
    return require(p);
  } finally { Module._load = orig; }
}

function doc(fsPath, text, { dirty = false, untitled = false, languageId = 'plaintext' } = {}) {
  return { uri: { fsPath, path: fsPath, toString: () => 'file://' + fsPath }, isDirty: dirty, isUntitled: untitled, languageId, version: 1, getText: () => text };
}

test('package.json: main, commands, menus and settings', () => {
  assert.equal(pkg.main, './src/extension.js');
  assert.ok(fs.existsSync(path.join(__dirname, '..', pkg.main)));
  const ids = pkg.contributes.commands.map((c) => c.command);
  assert.deepEqual(ids.sort(), ['xlchat.ask', 'xlchat.openWorkbook', 'xlchat.restartServer', 'xlchat.traceCell']);
  const titles = pkg.contributes.commands.map((c) => `${c.category}: ${c.title}`);
  assert.ok(titles.includes('xlchat: Open Workbook') && titles.includes('xlchat: Ask About Workbook'));
  for (const id of ['xlchat.openWorkbook', 'xlchat.ask', 'xlchat.traceCell']) assert.ok(pkg.activationEvents.includes(`onCommand:${id}`));
  const menu = pkg.contributes.menus['explorer/context'];
  for (const ext of ['xlsx', 'xlsm', 'xls', 'csv', 'tsv']) {
    for (const m of menu) assert.ok(new RegExp(m.when.match(/=~ \/(.*)\/i$/)[1].replace(/\\\\/g, '\\'), 'i').test(`.${ext}`), `${m.command} on .${ext}`);
  }
  assert.ok(pkg.contributes.configuration.properties['xlchat.path']);
  assert.ok(pkg.contributes.configuration.properties['xlchat.maxRestarts']);
});

test('activate registers every contributed command', () => {
  const vscode = makeVscode({ path: h.xlchatBinary() });
  const ext = loadExtension(vscode);
  const context = { subscriptions: [] };
  ext.activate(context);
  assert.deepEqual(Object.keys(vscode.calls.commands).sort(), pkg.contributes.commands.map((c) => c.command).sort());
  return ext.deactivate();
});

test('Open Workbook sends an unsaved csv buffer as its text, a saved file by path', async () => {
  const dir = h.tempDir();
  const file = h.writeSalesCsv(dir);
  const vscode = makeVscode({ path: h.xlchatBinary(), env: { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-') } });
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  try {
    // Unsaved edit: the buffer differs from the file on disk.
    vscode.window.activeTextEditor = { document: doc(file, 'region,units\nWest,99\n', { dirty: true, languageId: 'csv' }) };
    const edited = await vscode.calls.commands['xlchat.openWorkbook']();
    assert.deepEqual(vscode.calls.errors, []);
    assert.equal(edited.sheets[0].rows, 2, 'the buffer text (2 rows), not the file (5)');
    // Saved: by path.
    vscode.window.activeTextEditor = { document: doc(file, fs.readFileSync(file, 'utf8'), { languageId: 'csv' }) };
    const saved = await vscode.calls.commands['xlchat.openWorkbook']();
    assert.equal(saved.path, file);
    assert.equal(saved.sheets[0].rows, 5);
    // Not a workbook: an error message, no request.
    vscode.window.activeTextEditor = { document: doc(path.join(dir, 'notes.txt'), 'hi') };
    assert.equal(await vscode.calls.commands['xlchat.openWorkbook'](), undefined);
    assert.match(vscode.calls.errors[0], /not a workbook/);
  } finally { await ext.deactivate(); }
});

test('a missing binary is reported, not thrown', async () => {
  const vscode = makeVscode({ path: '/nonexistent/xlchat' });
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  vscode.window.activeTextEditor = { document: doc(h.writeSalesCsv(h.tempDir()), '') };
  await vscode.calls.commands['xlchat.openWorkbook']();
  assert.ok(vscode.calls.errors.some((m) => /binary not found/.test(m)), vscode.calls.errors.join('\n'));
  await ext.deactivate();
});

test('the chat panel streams, links citations to cells, and cancels', async (t) => {
  const ollama = await h.startFakeOllama();
  const env = { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-'), OLLAMA_HOST: ollama.host, XLCHAT_MODEL: 'fake:latest' };
  const probe = new XLChatClient({ binary: h.xlchatBinary(), env: { ...process.env, ...env }, maxRestarts: 0 });
  let init;
  try { init = await probe.ready(); } catch (e) { ollama.stop(); throw e; } finally { await probe.stop(); }
  if (!init.capabilities.methods.includes('chat/ask')) {
    ollama.stop();
    t.skip('server has no chat/ask yet (capabilities.methods lacks it)');
    return;
  }
  const settings = { path: h.xlchatBinary(), env, __question: 'Which region sold the most units?' };
  const vscode = makeVscode(settings);
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  try {
    const file = h.writeSalesCsv(h.tempDir());
    vscode.window.activeTextEditor = { document: doc(file, fs.readFileSync(file, 'utf8'), { languageId: 'csv' }) };
    await vscode.calls.commands['xlchat.ask']();
    assert.deepEqual(vscode.calls.errors, []);
    const panel = vscode.calls.panels[0];
    assert.match(panel.webview.html, /sales\.csv/);
    const types = panel.messages.map((m) => m.type);
    assert.equal(types[0], 'question');
    assert.ok(types.includes('progress'), 'index progress shown');
    const deltas = panel.messages.filter((m) => m.type === 'delta').map((m) => m.text);
    const answer = panel.messages.find((m) => m.type === 'answer').result;
    assert.ok(deltas.length > 1);
    assert.equal(deltas.join(''), answer.answer);
    assert.ok(panel.messages.some((m) => m.type === 'step' && m.step.tool === 'read_range'));
    // A click on the citation link asks for its cells.
    const cit = answer.citations[0];
    await panel.handler({ type: 'openRange', workbookId: cit.workbookId, sheet: cit.sheet, range: cit.range });
    const shown = panel.messages.filter((m) => m.type === 'range').pop();
    assert.equal(shown.sheet, cit.sheet);
    assert.deepEqual(shown.rows[0].slice(0, 2), ['region', 'product']);
    // Cancel button during a slow answer.
    let sawDelta;
    const delta = new Promise((r) => { sawDelta = r; });
    panel.onMessage = (m) => { if (m.type === 'delta') sawDelta(); };
    const asking = panel.handler({ type: 'ask', question: 'Answer slowly please' });
    await delta;
    const t0 = Date.now();
    await panel.handler({ type: 'cancel' });
    await asking;
    assert.equal(panel.messages[panel.messages.length - 1].type, 'busy');
    assert.ok(panel.messages.some((m) => m.type === 'cancelled'), JSON.stringify(panel.messages.slice(-3)));
    assert.ok(Date.now() - t0 < 5000);
  } finally { await ext.deactivate(); ollama.stop(); }
});

test('"trace this cell" on a citation shows the formula chain in the panel; the command prints it', async () => {
  const corpus = h.corpusDir();
  assert.ok(corpus, 'the corpus (../shared/corpus/files) is missing');
  const file = path.join(corpus, 'xlcalculator__use_case_01.xlsm');
  const { firstCell } = require('../src/rpc');
  assert.deepEqual(['C3:C4', '$F$20', 'a:a', '3:5', 'B2'].map(firstCell), ['C3', 'F20', 'A1', 'A3', 'B2']);
  const vscode = makeVscode({ path: h.xlchatBinary(), env: { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-') } });
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  try {
    vscode.window.activeTextEditor = { document: doc(file, '') };
    await vscode.calls.commands['xlchat.ask']();  // no question: the panel only
    assert.deepEqual(vscode.calls.errors, []);
    const panel = vscode.calls.panels[0];
    assert.match(panel.webview.html, /traceCell/, 'each citation has a trace link');
    // A citation Tenth!C3:C4: its first cell, C3 = SUM(A3,Hundred), Hundred = Eighth!$B$1.
    await panel.handler({ type: 'traceCell', sheet: 'Tenth', range: 'C3:C4' });
    const shown = panel.messages.filter((m) => m.type === 'trace').pop();
    assert.ok(shown, JSON.stringify(panel.messages.slice(-2)));
    assert.equal(shown.cell, 'C3');
    assert.equal(shown.result.cell.formula, 'SUM(A3,Hundred)');
    const lines = shown.text.split('\n');
    assert.equal(lines[0], 'Tenth!C3  =SUM(A3,Hundred)  → 102');
    assert.ok(lines.some((l) => l.includes('Hundred (name) = Eighth!B1')), shown.text);
    assert.ok(lines.some((l) => /└─ Eighth!B1  → 100$/.test(l)), shown.text);
    // The command palette: by argument, and by the input box (with dependents).
    const byArg = await vscode.calls.commands['xlchat.traceCell']({ sheet: 'Tenth', cell: 'C3' });
    assert.equal(byArg.text, shown.text);
    vscode.window.showInputBox = async () => 'Eighth!B1';
    const byBox = await vscode.calls.commands['xlchat.traceCell']();
    assert.match(byBox.text, /^Eighth!B1  → 100\nUsed by:\n/);
    assert.match(byBox.text, /Tenth!C3/);
    assert.ok(vscode.calls.output.join('').includes('Tenth!C3  =SUM(A3,Hundred)  → 102'));
    // A bad cell: an error message, not a throw.
    vscode.window.showInputBox = async () => 'Nope!A1';
    assert.equal(await vscode.calls.commands['xlchat.traceCell'](), undefined);
    assert.ok(vscode.calls.errors.some((m) => /no sheet named 'Nope'/.test(m)), vscode.calls.errors.join('\n'));
  } finally { await ext.deactivate(); }
});
