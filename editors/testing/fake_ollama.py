#!/usr/bin/env python3
"""A small fake Ollama for the editor-client tests (standard library only).

Serves /api/version, /api/tags, /api/show, /api/embed and /api/chat (streamed NDJSON, as Ollama
does). When the request offers tools and holds no tool result yet, the reply is one tool call,
`read_range` of A1:B3 (so the answer has a citation; in a workspace, of the first file the
outline names); otherwise it is a fixed sentence streamed
word by word, so clients can check that the streamed deltas join to the final answer. A question
containing "slowly" streams one word every 0.3 s for ~30 s so that cancellation can be tested.

Usage: fake_ollama.py [--port N]   (prints "OLLAMA_HOST=127.0.0.1:PORT" on its first line)
"""
import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "The workbook has data about iris flowers; see the cited cells for details."
MODELS = ["qwen2.5:3b", "smollm2:135m", "fake:latest"]


def last_user_text(messages):
    for m in reversed(messages or []):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else json.dumps(c)
    return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _json(self, obj, status=200):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b"{}"
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {}

    def do_GET(self):
        if self.path == "/api/version":
            self._json({"version": "0.6.0-fake"})
        elif self.path == "/api/tags":
            self._json({"models": [{"name": m, "model": m, "size": 1, "digest": "0" * 64,
                                    "modified_at": "2025-01-01T00:00:00Z"} for m in MODELS]})
        elif self.path == "/":
            self.send_response(200)
            self.send_header("Content-Length", "17")
            self.end_headers()
            self.wfile.write(b"Ollama is running")
        else:
            self._json({"error": "not found"}, 404)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        req = self._body()
        if self.path == "/api/show":
            self._json({"modelfile": "", "details": {"family": "fake"}, "capabilities": ["completion", "tools"]})
        elif self.path == "/api/embed":
            inputs = req.get("input")
            inputs = [inputs] if isinstance(inputs, str) else (inputs or [])
            vecs = []
            for t in inputs:
                v = [float((hash(t) >> i) & 7) + 1.0 for i in range(8)]
                norm = sum(x * x for x in v) ** 0.5
                vecs.append([x / norm for x in v])
            self._json({"model": req.get("model", ""), "embeddings": vecs})
        elif self.path == "/api/chat":
            self._chat(req)
        else:
            self._json({"error": "not found"}, 404)

    def _chat(self, req):
        model = req.get("model") or MODELS[0]
        question = last_user_text(req.get("messages"))
        slow = "slowly" in question
        words = ANSWER.split(" ")
        if slow:
            words = words * 10
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        stream = req.get("stream", True)
        messages = req.get("messages") or []
        if req.get("tools") and not any(m.get("role") == "tool" for m in messages):
            names = [t.get("function", {}).get("name") for t in req["tools"]]
            if "read_range" in names:
                arguments = {"range": "A1:B3"}
                # In a workspace read_range takes the file: the first file the outline names.
                tool = next(t for t in req["tools"] if t.get("function", {}).get("name") == "read_range")
                if "file" in (tool["function"].get("parameters", {}).get("properties") or {}):
                    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
                    found = re.search(r"^File: (.+?) \(", system, re.M)
                    if found:
                        arguments["file"] = found.group(1)
                call = {"function": {"name": "read_range", "arguments": arguments}}
                reply = {"model": model, "created_at": "2025-01-01T00:00:00Z",
                         "message": {"role": "assistant", "content": "", "tool_calls": [call]},
                         "done": True, "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 5}
                if stream:
                    body = (json.dumps(reply) + "\n").encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._json(reply)
                return
        if not stream:
            if slow:
                time.sleep(0.3 * len(pieces))
            self._json({"model": model, "created_at": "2025-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": "".join(pieces)},
                        "done": True, "done_reason": "stop", "prompt_eval_count": 10,
                        "eval_count": len(pieces)})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(obj):
            data = (json.dumps(obj) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            for p in pieces:
                chunk({"model": model, "created_at": "2025-01-01T00:00:00Z",
                       "message": {"role": "assistant", "content": p}, "done": False})
                time.sleep(0.3 if slow else 0.01)
            chunk({"model": model, "created_at": "2025-01-01T00:00:00Z",
                   "message": {"role": "assistant", "content": ""}, "done": True,
                   "done_reason": "stop", "prompt_eval_count": 10, "eval_count": len(pieces)})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client cancelled


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"OLLAMA_HOST=127.0.0.1:{server.server_address[1]}", flush=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        # Exit when stdin closes (the test that started us is gone) or on a signal.
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    server.shutdown()


if __name__ == "__main__":
    main()
