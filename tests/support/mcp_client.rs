//! A minimal MCP client over stdio for tests and benchmarks: starts
//! `ringmaster serve` in a scratch project whose agent is `fake-claude`, and
//! checks that every line the server writes is JSON-RPC.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<String>,
    pub next_id: u64,
    /// Notifications received so far.
    pub notifications: Vec<Value>,
    dir: std::path::PathBuf,
    /// The scratch project, when this client owns it.
    scratch: Option<tempfile::TempDir>,
}

impl Client {
    /// A server in a fresh scratch project, running at most two jobs at once.
    pub fn start() -> Client {
        Client::start_declaring(json!({}))
    }

    /// As [`Client::start`], the client declaring `capabilities` at `initialize`.
    pub fn start_declaring(capabilities: Value) -> Client {
        let scratch = tempfile::tempdir().unwrap();
        let config = format!(
            "engine: {{ max-concurrent: 2 }}\nagents:\n  claude: {{ command: '{}' }}\n",
            env!("CARGO_BIN_EXE_fake-claude")
        );
        std::fs::write(scratch.path().join("ringmaster.yaml"), config).unwrap();
        Client::spawn(scratch, &[], capabilities)
    }

    /// A server in `scratch`, which holds its ringmaster.yaml and state.
    pub fn start_in(scratch: tempfile::TempDir) -> Client {
        Client::spawn(scratch, &[], json!({}))
    }

    /// As [`Client::start_in`], with `env` set for the server (e.g. the
    /// variables of a job, to start it as a job's MCP server).
    pub fn start_with(scratch: tempfile::TempDir, env: &[(&str, &str)]) -> Client {
        Client::spawn(scratch, env, json!({}))
    }

    /// A front-end (`ringmaster serve` without `--embedded`) in `project`,
    /// whose engine process is shared with every other front-end there and
    /// outlives this client (see [`stop_engine`]).
    pub fn front_end(project: &std::path::Path) -> Client {
        Client::front_end_with(project, &[])
    }

    /// As [`Client::front_end`], with more arguments for `serve`.
    pub fn front_end_with(project: &std::path::Path, args: &[&str]) -> Client {
        Client::spawn_in(project, None, args, &[], json!({}))
    }

    fn spawn(scratch: tempfile::TempDir, env: &[(&str, &str)], capabilities: Value) -> Client {
        // The engine inside the server process: these tests look at that
        // process (its CPU, memory, children, a `kill -9` of it); the
        // front-end in front of an engine process has tests of its own.
        let dir = scratch.path().to_path_buf();
        Client::spawn_in(&dir, Some(scratch), &[], env, capabilities)
    }

    fn spawn_in(
        dir: &std::path::Path,
        scratch: Option<tempfile::TempDir>,
        args: &[&str],
        env: &[(&str, &str)],
        capabilities: Value,
    ) -> Client {
        let mode: &[&str] = if scratch.is_some() { &["serve", "--embedded"] } else { &["serve"] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringmaster"))
            .args(mode)
            .args(args)
            .current_dir(dir)
            .env("RINGMASTER_STATE_DIR", dir.join("state"))
            .env_remove("RINGMASTER_CONFIG")
            .env_remove("RINGMASTER_JOB_ID")
            .env_remove("RINGMASTER_SOCKET")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut client = Client {
            child,
            stdin: Some(stdin),
            lines,
            next_id: 1,
            notifications: Vec::new(),
            dir: dir.to_path_buf(),
            scratch,
        };
        let init = client.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "test", "version": "1"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "ringmaster", "{init}");
        client.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        client
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The scratch project; the server's state is in its `state/`.
    pub fn project(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn send(&mut self, message: Value) {
        self.send_raw(&message.to_string());
    }

    pub fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("the session is open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and returns its response; notifications that arrive
    /// meanwhile are kept in `notifications`.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.response(id)
    }

    pub fn response(&mut self, id: u64) -> Value {
        loop {
            let line = self.lines.recv_timeout(WAIT).expect("the server answers within the bound");
            let message: Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("stdout must be JSON-RPC: {line}"));
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            if message.get("method").is_some() && message.get("id").is_none() {
                self.notifications.push(message);
            }
        }
    }

    /// `kill -9` of the server.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with `kill -9` and hands back its project directory.
    pub fn crash(mut self) -> tempfile::TempDir {
        self.kill();
        self.scratch.take().expect("the client owns its project")
    }

    /// Closes the server's stdin (the client ends the session) and waits
    /// for the server to exit.
    pub fn close(mut self) -> std::process::ExitStatus {
        self.stdin.take();
        self.child.wait().unwrap()
    }

    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        response.get("result").cloned().unwrap_or_else(|| panic!("{tool} failed at protocol level: {response}"))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Stops the engine process of `project` (started by front-ends there) and
/// waits until it is gone.
pub fn stop_engine(project: &std::path::Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .args(["engine", "stop", "--state"])
        .arg(project.join("state"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
