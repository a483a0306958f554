//! The MCP transport boundary: every line a client sends passes here before
//! the MCP library (rmcp) sees it, and everything either of them writes
//! leaves through one writer, a whole line at a time.
//!
//! Why: rmcp's handling of malformed input breaks the contract a client
//! relies on, and those cases are fixed here rather than in a fork:
//! * a notification or a response before `initialize` ends its session
//!   (`serve` exited 1): here they are dropped, as JSON-RPC allows for
//!   anything that needs no answer;
//! * its error replies omit `id` where JSON-RPC wants `"id": null`, and a
//!   request it cannot parse (a non-integer id, wrong-typed `params`) gets a
//!   reply no client can match: here such requests are answered with their
//!   own id when they have a usable one;
//! * a known method with wrong-typed params is answered -32601 (method not
//!   found): here it is -32602 (invalid params), naming what was wrong;
//! * text that is not JSON is ignored: here it gets a -32700 parse error.
//!
//! Lines are held to [`MAX_LINE`] (rmcp's own limit); a longer one is read
//! and dropped as it arrives, and answered with an error.
//!
//! Length: 310 lines of code, the rest property tests of the boundary.

use crate::untrusted::{Line, Lines};
use rmcp::ServiceExt;
use rmcp::model::*;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The longest message a client may send.
pub const MAX_LINE: usize = 16 << 20;

/// Bytes in flight between the boundary and rmcp.
const PIPE: usize = 1 << 20;

/// What becomes of one incoming line.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Handed to rmcp as it is.
    Forward,
    /// Answered here, with this error response.
    Reply(Value),
    /// Needs no answer and is not passed on (the reason is logged).
    Drop(&'static str),
}

/// Where the session stands, as far as the boundary needs to know.
#[derive(Debug, Default)]
pub struct Boundary {
    /// An `initialize` request has been passed on.
    initialized: bool,
}

/// Methods rmcp knows: a request for one of them that rmcp cannot parse has
/// params of the wrong shape.
const KNOWN_METHODS: [&str; 16] = [
    InitializeResultMethod::VALUE,
    PingRequestMethod::VALUE,
    ListToolsRequestMethod::VALUE,
    CallToolRequestMethod::VALUE,
    ListPromptsRequestMethod::VALUE,
    GetPromptRequestMethod::VALUE,
    ListResourcesRequestMethod::VALUE,
    ListResourceTemplatesRequestMethod::VALUE,
    ReadResourceRequestMethod::VALUE,
    SubscribeRequestMethod::VALUE,
    UnsubscribeRequestMethod::VALUE,
    SetLevelRequestMethod::VALUE,
    CompleteRequestMethod::VALUE,
    GetTaskMethod::VALUE,
    CancelTaskMethod::VALUE,
    DiscoverRequestMethod::VALUE,
];

fn error(id: Value, code: i32, message: String) -> Verdict {
    Verdict::Reply(json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }))
}

/// Why `params` do not fit `method`, in serde's words where it has them.
fn params_error(method: &str, params: &Value) -> String {
    fn check<T: serde::de::DeserializeOwned>(params: &Value) -> Option<String> {
        serde_json::from_value::<T>(params.clone()).err().map(|e| e.to_string())
    }
    let why = match method {
        CallToolRequestMethod::VALUE => check::<CallToolRequestParams>(params),
        GetPromptRequestMethod::VALUE => check::<GetPromptRequestParams>(params),
        ReadResourceRequestMethod::VALUE => check::<ReadResourceRequestParams>(params),
        InitializeResultMethod::VALUE => check::<InitializeRequestParams>(params),
        _ => None,
    };
    format!(
        "invalid params for {method}: {}",
        why.unwrap_or_else(|| "they do not have the shape MCP gives them".into())
    )
}

impl Boundary {
    /// Decides what becomes of `line`.
    pub fn check(&mut self, line: &str) -> Verdict {
        if line.trim().is_empty() {
            return Verdict::Drop("an empty line");
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(value) => value,
            // Valid JSON nested past the parser's limit: still answer it
            // under its own id when the top level has one.
            Err(err) if err.to_string().starts_with("recursion limit exceeded") => {
                let id = top_level_id(line).filter(|id| id.is_string() || id.is_i64() || id.is_u64());
                return error(
                    id.unwrap_or_default(),
                    -32600,
                    "invalid request: nested more than 128 levels deep".into(),
                );
            }
            Err(err) => return error(Value::Null, -32700, format!("parse error: {err}")),
        };
        let Value::Object(message) = value else {
            let what = if value.is_array() { "batches are not part of MCP" } else { "a message is a JSON object" };
            return error(Value::Null, -32600, format!("invalid request: {what}"));
        };
        // An id a reply can carry back: a string or an integer. Any other
        // id is echoed (the client may still match it) with the error.
        let id = message.get("id").cloned();
        let usable_id = id.as_ref().is_some_and(|id| id.is_string() || id.is_i64() || id.is_u64());
        let reply_id = || match &id {
            Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
            _ => Value::Null,
        };
        let method = message.get("method").cloned();
        let is_response = method.is_none() && (message.contains_key("result") || message.contains_key("error"));
        let is_notification = method.is_some() && id.is_none();
        if is_notification || is_response {
            let parsed = serde_json::from_value::<ClientJsonRpcMessage>(Value::Object(message)).is_ok();
            return match (self.initialized, parsed) {
                (false, _) => Verdict::Drop("a notification or response before initialize"),
                (true, false) => Verdict::Drop("a malformed notification or response"),
                (true, true) => Verdict::Forward,
            };
        }
        if message.get("jsonrpc") != Some(&json!("2.0")) {
            return error(reply_id(), -32600, "invalid request: `jsonrpc` must be \"2.0\"".into());
        }
        if !usable_id {
            return error(reply_id(), -32600, "invalid request: `id` must be a string or an integer".into());
        }
        let Some(Value::String(method)) = method else {
            return error(reply_id(), -32600, "invalid request: `method` must be a string".into());
        };
        let params = message.get("params").cloned();
        if params.as_ref().is_some_and(|p| !p.is_object()) {
            return error(reply_id(), -32602, format!("invalid params for {method}: `params` must be an object"));
        }
        match serde_json::from_value::<ClientJsonRpcMessage>(Value::Object(message)) {
            Ok(ClientJsonRpcMessage::Request(request)) => {
                if matches!(request.request, ClientRequest::CustomRequest(_))
                    && KNOWN_METHODS.contains(&method.as_str())
                {
                    return error(reply_id(), -32602, params_error(&method, &params.unwrap_or_default()));
                }
                self.initialized |= matches!(request.request, ClientRequest::InitializeRequest(_));
                Verdict::Forward
            }
            Ok(_) => Verdict::Forward,
            Err(err) => error(reply_id(), -32602, format!("invalid params for {method}: {err}")),
        }
    }
}

/// The `id` of a JSON object too deep for the parser, found by walking its
/// top level only: values are skipped by counting brackets outside strings,
/// so the walk needs no recursion and no memory, however deep they nest.
fn top_level_id(line: &str) -> Option<Value> {
    let bytes = line.as_bytes();
    let mut at = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    (bytes[at] == b'{').then_some(())?;
    at += 1;
    loop {
        let skip_space = |at: &mut usize| {
            while bytes.get(*at).is_some_and(|b| b.is_ascii_whitespace()) {
                *at += 1;
            }
        };
        skip_space(&mut at);
        let key_start = at;
        at = skip_string(bytes, at)?;
        let key: String = serde_json::from_str(&line[key_start..at]).ok()?;
        skip_space(&mut at);
        (bytes.get(at) == Some(&b':')).then_some(())?;
        at += 1;
        skip_space(&mut at);
        let value_start = at;
        let mut depth = 0usize;
        loop {
            match *bytes.get(at)? {
                b'"' => at = skip_string(bytes, at)?,
                b'[' | b'{' => {
                    depth += 1;
                    at += 1;
                }
                b']' | b'}' if depth > 0 => {
                    depth -= 1;
                    at += 1;
                }
                b',' | b'}' if depth == 0 => break,
                _ => at += 1,
            }
        }
        if key == "id" {
            return serde_json::from_str(line[value_start..at].trim()).ok();
        }
        if bytes[at] == b'}' {
            return None;
        }
        at += 1;
    }
}

/// The index just past the JSON string starting at `at`.
fn skip_string(bytes: &[u8], mut at: usize) -> Option<usize> {
    (bytes.get(at) == Some(&b'"')).then_some(())?;
    at += 1;
    loop {
        match *bytes.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// Serves `handler` to the client on `input`/`output` through the
/// boundary, until the session ends. `closed` is cancelled when the client
/// closes its side, before rmcp learns of it (and cancels what is in
/// flight), so a request can tell a client that went away from one that
/// cancelled it.
pub async fn serve<H: rmcp::ServerHandler>(
    handler: H,
    input: impl AsyncRead + Unpin + Send + 'static,
    output: impl AsyncWrite + Unpin + Send + 'static,
    closed: CancellationToken,
) -> anyhow::Result<()> {
    let (to_rmcp, rmcp_in) = tokio::io::duplex(PIPE);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(PIPE);
    let (replies, answered) = mpsc::channel(64);
    let writer = tokio::spawn(write_out(output, from_rmcp, answered));
    let reader = tokio::spawn(read_in(input, to_rmcp, replies, closed));
    let served = async {
        let service = handler.serve((rmcp_in, rmcp_out)).await?;
        service.waiting().await?;
        anyhow::Ok(())
    }
    .await;
    reader.abort();
    // rmcp's ends are dropped: the writer drains what is left and stops.
    let _ = writer.await;
    served
}

/// Client lines -> rmcp (or a reply of our own).
async fn read_in(
    input: impl AsyncRead + Unpin,
    mut to_rmcp: tokio::io::DuplexStream,
    replies: mpsc::Sender<String>,
    closed: CancellationToken,
) {
    let mut lines = Lines::new(BufReader::new(input), MAX_LINE);
    let mut boundary = Boundary::default();
    while let Ok(Some(line)) = lines.next_line().await {
        let verdict = match line {
            Line::Text(text) => match boundary.check(&text) {
                Verdict::Forward => {
                    let mut bytes = text.into_bytes();
                    bytes.push(b'\n');
                    if to_rmcp.write_all(&bytes).await.is_err() {
                        break;
                    }
                    continue;
                }
                verdict => verdict,
            },
            Line::TooLong { bytes } => {
                error(Value::Null, -32600, format!("a message of {bytes} bytes is larger than the {MAX_LINE} allowed"))
            }
        };
        match verdict {
            Verdict::Reply(reply) => {
                if replies.send(reply.to_string()).await.is_err() {
                    break;
                }
            }
            Verdict::Drop(why) => tracing::debug!("MCP message dropped: {why}"),
            Verdict::Forward => unreachable!("handled above"),
        }
    }
    closed.cancel();
    let _ = to_rmcp.shutdown().await;
}

/// rmcp's lines and our replies -> the client, a whole line at a time.
async fn write_out(
    mut output: impl AsyncWrite + Unpin,
    from_rmcp: tokio::io::DuplexStream,
    mut replies: mpsc::Receiver<String>,
) {
    // rmcp writes what it serialised: no cap needed on its side.
    let mut from_rmcp = Lines::new(BufReader::new(from_rmcp), usize::MAX);
    loop {
        let line = tokio::select! {
            line = from_rmcp.next_line() => match line {
                Ok(Some(Line::Text(line))) => line,
                _ => break,
            },
            Some(reply) = replies.recv() => reply,
        };
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(verdict: &Verdict) -> (i64, Value) {
        match verdict {
            Verdict::Reply(reply) => (reply["error"]["code"].as_i64().unwrap(), reply["id"].clone()),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

    #[test]
    fn notifications_and_responses_before_initialize_are_dropped() {
        let mut boundary = Boundary::default();
        assert!(matches!(
            boundary.check(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Verdict::Drop(_)
        ));
        assert!(matches!(boundary.check(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#), Verdict::Drop(_)));
        assert_eq!(boundary.check(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), Verdict::Forward);
        assert_eq!(boundary.check(INIT), Verdict::Forward);
        assert_eq!(boundary.check(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#), Verdict::Forward);
    }

    #[test]
    fn errors_carry_the_id_or_null() {
        let mut b = Boundary::default();
        assert_eq!(code(&b.check("garbage")), (-32700, Value::Null));
        assert_eq!(code(&b.check("[1,2]")), (-32600, Value::Null));
        assert_eq!(code(&b.check(r#"{"jsonrpc":"2.0","id":4.5,"method":"ping"}"#)), (-32600, json!(4.5)));
        assert_eq!(code(&b.check(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#)), (-32600, Value::Null));
        assert_eq!(code(&b.check(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#)), (-32600, Value::Null));
        assert_eq!(code(&b.check(r#"{"jsonrpc":"1.0","id":"x","method":"ping"}"#)), (-32600, json!("x")));
        assert_eq!(code(&b.check(r#"{"jsonrpc":"2.0","id":3,"method":5}"#)), (-32600, json!(3)));
    }

    #[test]
    fn a_message_too_deep_to_parse_is_answered_under_its_id() {
        let mut b = Boundary::default();
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let line =
            format!(r#"{{"jsonrpc":"2.0","params":{{"a":{deep},"s":"x}}\"{{"}},"id":"deep-1","method":"ping"}}"#);
        assert_eq!(code(&b.check(&line)), (-32600, json!("deep-1")));
        let line = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"ping","params":{{"a":{deep}}}}}"#);
        assert_eq!(code(&b.check(&line)), (-32600, json!(7)));
        let line = format!(r#"{{"jsonrpc":"2.0","method":"ping","params":{deep}}}"#);
        assert_eq!(code(&b.check(&line)), (-32600, Value::Null));
    }

    #[test]
    fn wrong_params_of_known_methods_are_invalid_params() {
        let mut b = Boundary::default();
        b.check(INIT);
        let (code_, id) =
            code(&b.check(
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"job_status","arguments":"x"}}"#,
            ));
        assert_eq!((code_, id), (-32602, json!(2)));
        let verdict = b.check(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#);
        let Verdict::Reply(reply) = &verdict else { panic!("{verdict:?}") };
        assert!(reply["error"]["message"].as_str().unwrap().contains("invalid type"), "{reply}");
        assert_eq!(code(&b.check(r#"{"jsonrpc":"2.0","id":"s","method":"ping","params":"x"}"#)), (-32602, json!("s")));
        assert_eq!(
            code(&b.check(r#"{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":[]}}"#)).0,
            -32602
        );
        // Unknown methods go to rmcp, which answers -32601 itself.
        assert_eq!(b.check(r#"{"jsonrpc":"2.0","id":6,"method":"nope/x"}"#), Verdict::Forward);
        assert_eq!(
            b.check(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":1}}}"#),
            Verdict::Forward
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn every_line_is_forwarded_dropped_or_answered_as_json_rpc(line in ".{0,300}", initialized in any::<bool>()) {
                let mut boundary = Boundary { initialized };
                if let Verdict::Reply(reply) = boundary.check(&line) {
                    prop_assert_eq!(&reply["jsonrpc"], "2.0");
                    prop_assert!(reply.get("id").is_some(), "a reply always carries an id, null if unknown");
                    prop_assert!(reply["error"]["code"].is_i64());
                }
            }

            #[test]
            fn a_request_with_a_usable_id_is_forwarded_or_answered_under_it(
                id in any::<i64>(), method in "[a-z/]{0,20}", params in "[ -~]{0,40}",
            ) {
                let mut boundary = Boundary { initialized: true };
                let line = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{}}}"#,
                    serde_json::to_string(&params).unwrap());
                match boundary.check(&line) {
                    Verdict::Reply(reply) => prop_assert_eq!(&reply["id"], &json!(id)),
                    Verdict::Forward => {}
                    Verdict::Drop(why) => prop_assert!(false, "a request was dropped: {}", why),
                }
            }

            #[test]
            fn any_socket_request_line_parses_or_is_refused(line in ".{0,300}") {
                let _ = serde_json::from_str::<crate::remote::Request>(&line);
            }
        }
    }
}
