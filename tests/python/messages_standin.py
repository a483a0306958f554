"""A local stand-in for the Anthropic Messages API, enough for the real
`claude` CLI to run a headless turn offline: POST /v1/messages answers one
text block as server-sent events; anything else gets an empty JSON object.
Every request is recorded in `requests`."""

import http.server
import json
import threading

REPLY = "Hello from the stand-in"


def _events(model, block):
    yield "message_start", {
        "type": "message_start",
        "message": {
            "id": "msg_standin", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 21, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0},
        },
    }
    if block["type"] == "tool_use":
        yield "content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {**block, "input": {}}}
        yield "content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}}
        stop = "tool_use"
    else:
        yield "content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}
        yield "content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": block["text"]}}
        stop = "end_turn"
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield "message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                            "usage": {"output_tokens": 7}}
    yield "message_stop", {"type": "message_stop"}


def _answered_tool(request):
    """Whether the conversation already holds a tool result."""
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, list) and any(part.get("type") == "tool_result" for part in content):
            return True
    return False


class StandIn:
    """With `tool=(NAME, INPUT)`, the first turn asks for that tool call;
    the turn after its result answers with text."""

    def __init__(self, tool=None):
        self.requests = []
        self.tool = tool
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)) or 0)
                try:
                    request = json.loads(body or b"{}")
                except ValueError:
                    request = {}
                standin.requests.append((self.path, request))
                if not self.path.startswith("/v1/messages") or "count_tokens" in self.path:
                    return self._json({"input_tokens": 21} if "count_tokens" in self.path else {})
                model = request.get("model", "claude-standin")
                if standin.tool and not _answered_tool(request):
                    name, tool_input = standin.tool
                    block = {"type": "tool_use", "id": "toolu_standin", "name": name, "input": tool_input}
                else:
                    block = {"type": "text", "text": REPLY}
                if not request.get("stream"):
                    return self._json({
                        "id": "msg_standin", "type": "message", "role": "assistant", "model": model,
                        "content": [block], "stop_reason": "end_turn",
                        "stop_sequence": None, "usage": {"input_tokens": 21, "output_tokens": 7},
                    })
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.end_headers()
                for name, data in _events(model, block):
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()

            def do_GET(self):
                standin.requests.append((self.path, None))
                self._json({})

            def _json(self, value):
                body = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
