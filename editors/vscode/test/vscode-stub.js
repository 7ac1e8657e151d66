'use strict';
// A small stand-in for the `vscode` module (VS Code itself cannot run here): it records the
// commands registered, the messages shown and the webview panels, and answers settings from a
// plain object. `loadExtension` loads an extension.js (the source tree's, or one unpacked from
// the .vsix) with this stand-in as its `vscode`.
const Module = require('module');
const path = require('path');

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

function loadExtension(vscode, file = path.join(__dirname, '..', 'src', 'extension.js')) {
  const orig = Module._load;
  Module._load = function (request, parent, isMain) {
    if (request === 'vscode') return vscode;
    return orig.call(this, request, parent, isMain);
  };
  try {
    const p = require.resolve(file);
    // A fresh copy each time (its module state is the client), with fresh copies of its own modules.
    for (const k of Object.keys(require.cache)) if (k.startsWith(path.dirname(p) + path.sep)) delete require.cache[k];
    return require(p);
  } finally { Module._load = orig; }
}

function doc(fsPath, text, { dirty = false, untitled = false, languageId = 'plaintext' } = {}) {
  return { uri: { fsPath, path: fsPath, toString: () => 'file://' + fsPath }, isDirty: dirty, isUntitled: untitled, languageId, version: 1, getText: () => text };
}

module.exports = { makeVscode, loadExtension, doc };
