//! Hostile MCP traffic for the protocol fuzzer: a seeded generator of
//! messages a broken or malicious client might send, from garbage bytes to
//! well-formed requests with every field of the wrong type, size or range.

use super::TOOLS;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

const METHODS: [&str; 14] = [
    "ping",
    "initialize",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "logging/setLevel",
    "tasks/get",
    "tasks/cancel",
    "completion/complete",
    "no/such/method",
];
const FIELDS: [&str; 16] = [
    "prompt",
    "job_id",
    "job_ids",
    "timeout_s",
    "priority",
    "tags",
    "limit",
    "offset",
    "status",
    "tag",
    "cwd",
    "model",
    "agent",
    "name",
    "arguments",
    "max_retries",
];

/// One message: a line to send, and the id a reply must carry, when the
/// message is a request with an id a client can match (a string or an integer).
pub struct Message {
    pub line: String,
    pub answer_id: Option<Value>,
}

pub struct Hostile {
    rng: StdRng,
    next_id: u64,
}

impl Hostile {
    pub fn new(seed: u64) -> Hostile {
        Hostile { rng: StdRng::seed_from_u64(seed), next_id: 1_000_000 }
    }

    fn text(&mut self, max: usize) -> String {
        let len = self.rng.random_range(0..=max);
        // No `@`: fake-claude directives (hang, spawn) are not the point here.
        const ALPHABET: &[u8] = b"abc XYZ 019 -_./\\\"'`$(){}[]<>|;&*?!#%~\n\t";
        let mut text: String = (0..len).map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char).collect();
        if self.rng.random_bool(0.05) {
            text.push_str("\u{0}\u{7f}\u{feff}é漢🦀");
        }
        text
    }

    fn number(&mut self) -> Value {
        match self.rng.random_range(0..8) {
            0 => json!(u64::MAX),
            1 => json!(i64::MIN),
            2 => json!(1e300),
            3 => json!(-1),
            4 => json!(0),
            5 => json!(self.rng.random::<f64>() * 1000.0),
            6 => json!(86_401),
            _ => json!(self.rng.random_range(0..100)),
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.rng.random_range(0..if depth > 3 { 5 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.rng.random_bool(0.5)),
            2 => self.number(),
            3 | 4 => json!(self.text(40)),
            5 => json!((0..self.rng.random_range(0..4)).map(|_| self.value(depth + 1)).collect::<Vec<_>>()),
            6 => Value::Object(self.object(depth + 1)),
            _ => {
                // Deep nesting.
                let mut v = json!(1);
                for _ in 0..self.rng.random_range(1..300) {
                    v = json!([v]);
                }
                v
            }
        }
    }

    fn object(&mut self, depth: u32) -> Map<String, Value> {
        let mut map = Map::new();
        for _ in 0..self.rng.random_range(0..5) {
            let key = if self.rng.random_bool(0.8) {
                FIELDS[self.rng.random_range(0..FIELDS.len())].to_string()
            } else {
                self.text(12)
            };
            map.insert(key, self.value(depth));
        }
        map
    }

    fn arguments(&mut self, tool: &str) -> Value {
        if (tool.starts_with("job_submit") || tool == "job_run") && self.rng.random_bool(0.3) {
            // Well formed, so real jobs run among the garbage.
            let mut job = json!({ "prompt": format!("fuzz {}", self.text(30)), "max_retries": 0 });
            if self.rng.random_bool(0.5) {
                job["priority"] = json!(self.rng.random_range(-5..5));
            }
            return if tool == "job_submit_batch" { json!({ "jobs": [job.clone(), job] }) } else { job };
        }
        if self.rng.random_bool(0.1) { self.value(0) } else { Value::Object(self.object(0)) }
    }

    fn id(&mut self) -> (Value, Option<Value>) {
        self.next_id += 1;
        let n = self.next_id;
        match self.rng.random_range(0..12) {
            0 => (json!(n as f64 + 0.5), None),
            1 => (Value::Null, None),
            2 => (json!({ "n": n }), None),
            3 => (json!(true), None),
            4 | 5 => (json!(format!("s{n}")), Some(json!(format!("s{n}")))),
            _ => (json!(n), Some(json!(n))),
        }
    }

    /// The next message.
    pub fn next(&mut self) -> Message {
        let kind = self.rng.random_range(0..100);
        let unanswered = |line: String| Message { line, answer_id: None };
        match kind {
            0..5 => unanswered(self.text(200)),
            5..8 => unanswered(json!(self.value(0)).to_string()),
            8..10 => {
                let line = json!({ "jsonrpc": "2.0", "id": self.next_id, "method": "ping" }).to_string();
                let cut = self.rng.random_range(0..line.len());
                unanswered(line[..cut].to_string())
            }
            10 => {
                unanswered(format!("{{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"{}\"}}", "y".repeat(1 << 20)))
            }
            11..18 => {
                // Notifications, some of them real ones with wrong params;
                // cancellations only name ids never used.
                let method = ["notifications/cancelled", "notifications/progress", "notifications/initialized", "x/y"]
                    [self.rng.random_range(0..4)];
                let params = json!({ "requestId": "never-used", "progressToken": self.value(2) });
                unanswered(json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string())
            }
            18..22 => {
                let (id, _) = self.id();
                unanswered(json!({ "jsonrpc": "2.0", "id": id, "result": self.value(1) }).to_string())
            }
            _ => {
                let (id, answer_id) = self.id();
                let method = METHODS[self.rng.random_range(0..METHODS.len())];
                let params = match method {
                    "tools/call" => {
                        let tool = if self.rng.random_bool(0.9) {
                            TOOLS[self.rng.random_range(0..TOOLS.len())].to_string()
                        } else {
                            self.text(10)
                        };
                        json!({ "name": tool, "arguments": self.arguments(&tool) })
                    }
                    "resources/read" => {
                        let uri = ["ringmaster://stats", "ringmaster://jobs/../../etc/passwd", "file:///etc/passwd"]
                            [self.rng.random_range(0..3)];
                        json!({ "uri": if self.rng.random_bool(0.8) { json!(uri) } else { self.value(1) } })
                    }
                    _ if self.rng.random_bool(0.2) => self.value(1),
                    _ => Value::Object(self.object(0)),
                };
                let mut message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
                if self.rng.random_bool(0.03) {
                    message["jsonrpc"] = json!("1.0");
                }
                let line = message.to_string();
                Message { line, answer_id: answer_id.filter(|_| message["jsonrpc"] == "2.0") }
            }
        }
    }
}
