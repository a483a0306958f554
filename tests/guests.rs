//! Plugins written in Python (componentize-py) and JavaScript
//! (componentize-js), built by `cargo xtask plugins`, loaded through the
//! normal runtime: on the same inputs they decide as the Rust examples do,
//! and the limits and failure handling apply to them as to Rust plugins.

use crate::support::TestHost;
use ringmaster::contract::{Candidate, HookCall, JobInfo, RootLoad, ScheduleInput, SlotLoad};

/// The languages of the guest examples, by the suffix of their names.
const GUESTS: [&str; 2] = ["py", "js"];

/// A small deterministic generator (xorshift64*): the inputs are many and
/// varied, and a failure names the case that reproduces it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn job(id: usize, root: u64, priority: i32) -> JobInfo {
    JobInfo {
        id: format!("job-{id}"),
        prompt_preview: "fix the parser".into(),
        prompt_bytes: 14,
        agent: "claude".into(),
        model: None,
        priority,
        tags: vec!["parser".into()],
        depth: u32::from(root != 0),
        root_id: format!("root-{root}"),
        parent_id: None,
        attempt: 1,
        submitted_at_ms: 1_700_000_000_000 + id as u64,
    }
}

/// A scheduling round: a window of up to 64 candidates from a few trees,
/// slots some of which are full or cooling down, trees already running.
fn schedule_input(rng: &mut Rng) -> ScheduleInput {
    let trees = 1 + rng.below(5);
    let candidates = (0..rng.below(65) as usize)
        .map(|i| Candidate {
            job: job(i, rng.below(trees), rng.below(3) as i32 - 1),
            rank: 0,
            waited_ms: rng.below(60_000),
        })
        .collect();
    let slots = (0..1 + rng.below(4) as u32)
        .map(|index| SlotLoad {
            cooling_until_ms: (rng.below(6) == 0).then_some(1_700_000_100_000),
            ..SlotLoad::idle(index, rng.below(6) as u32)
        })
        .collect();
    let mut roots = Vec::new();
    for tree in 0..trees {
        if rng.below(2) == 0 {
            roots.push(RootLoad { root_id: format!("root-{tree}"), running: rng.below(5) as u32 });
        }
    }
    ScheduleInput {
        candidates,
        slots,
        capacity: rng.below(12) as u32,
        roots,
        queued_total: 500,
        now_ms: 1_700_000_000_000,
    }
}

/// The Rust example and its guest twins, loaded with the same config; the
/// guests reuse their instances, as their manifests ask.
fn twins(example: &str, config: &str) -> TestHost {
    let manifest = format!("config: {{ {config} }}");
    let t = TestHost::new("");
    t.load(example, example, Some(&manifest)).unwrap();
    for lang in GUESTS {
        let name = format!("{example}-{lang}");
        let manifest = format!("{manifest}\ninstances: reused");
        t.load(&name, &name, Some(&manifest)).unwrap_or_else(|e| panic!("{name} must load: {e}"));
    }
    t
}

#[test]
fn python_and_javascript_schedulers_decide_as_the_rust_one() {
    let t = twins("fair-share", "max-per-root: '2'");
    let plugin = |name: &str| t.host.get(name).unwrap();
    let mut rng = Rng(0x5eed_f00d);
    for case in 0..150 {
        let input = schedule_input(&mut rng);
        let jobs: Vec<JobInfo> = input.candidates.iter().map(|c| c.job.clone()).collect();
        let expected = plugin("fair-share").select(&input).unwrap();
        let ranks = plugin("fair-share").rank(&jobs).unwrap();
        for lang in GUESTS {
            let name = format!("fair-share-{lang}");
            assert_eq!(plugin(&name).select(&input).unwrap(), expected, "{name}, case {case}: {input:#?}");
            assert_eq!(plugin(&name).rank(&jobs).unwrap(), ranks, "{name}, case {case}");
        }
    }
}

#[test]
fn python_and_javascript_hook_handlers_decide_as_the_rust_one() {
    let t = twins(
        "deny-patterns",
        "events: 'JobSubmit, PreToolUse,\nStop', patterns: \"rm -rf /\\nPROD.example.com, eu\\n\"",
    );
    let plugin = |name: &str| t.host.get(name).unwrap();
    let payloads = [
        r#"{"tool_input":{"command":"rm -rf / --no-preserve-root"}}"#,
        r#"{"tool_input":{"command":"ssh prod.EXAMPLE.com, eu"}}"#,
        r#"{"tool_input":{"command":"ssh prod.example.com"}}"#,
        r#"{"prompt":"RM -RF /tmp/x"}"#,
        r#"{"prompt":"list the files"}"#,
        "",
    ];
    assert_eq!(plugin("deny-patterns").hook_events, ["JobSubmit", "PreToolUse", "Stop"]);
    for lang in GUESTS {
        let name = format!("deny-patterns-{lang}");
        assert_eq!(plugin(&name).hook_events, plugin("deny-patterns").hook_events, "{name}");
        for (i, payload) in payloads.iter().enumerate() {
            let event =
                HookCall { name: "PreToolUse".into(), payload_json: payload.to_string(), job: Some(job(i, 0, 0)) };
            let expected = plugin("deny-patterns").handle_hook(&event).unwrap();
            assert_eq!(plugin(&name).handle_hook(&event).unwrap(), expected, "{name}: {payload}");
        }
    }
}

#[test]
fn a_guest_fails_as_rust_plugins_do_with_its_own_words_or_at_the_memory_cap() {
    for lang in GUESTS {
        let name = format!("fair-share-{lang}");
        let t = TestHost::new("");
        // The smoke call at load fails: the plugin is refused with the guest's own words.
        let error = t.load(&name, &name, Some("config: { max-per-root: eight }")).unwrap_err();
        assert!(error.contains("config key `max-per-root`") && error.contains("eight"), "{name}: {error}");
        // A language runtime does not fit in 1 MiB: refused, naming the limit.
        let error = t.load(&name, &name, Some("limits: { memory-mib: 1 }")).unwrap_err();
        assert!(error.contains("1 MiB memory limit"), "{name}: {error}");
        // The same build with good settings serves.
        t.load(&name, &name, Some("config: { max-per-root: '1' }\ninstances: reused")).unwrap();
        t.host.get(&name).unwrap().select(&schedule_input(&mut Rng(7))).unwrap();
    }
}

#[test]
fn a_guest_is_stopped_at_its_deadline_and_memory_cap_and_the_next_call_gets_a_clean_instance() {
    let window = |tag: &str| ScheduleInput {
        candidates: vec![Candidate { job: JobInfo { tags: vec![tag.into()], ..job(0, 0, 0) }, rank: 0, waited_ms: 0 }],
        slots: vec![SlotLoad::idle(0, 1)],
        capacity: 1,
        roots: Vec::new(),
        queued_total: 1,
        now_ms: 0,
    };
    for lang in GUESTS {
        let name = format!("misbehave-{lang}");
        for (mode, limits, expected) in [
            ("loop", "policy-deadline-ms: 300", "ran past its 300 ms deadline"),
            ("memory-bomb", "memory-mib: 64", "hit its 64 MiB memory limit"),
            ("trap", "memory-mib: 64", "misbehave fixture: deliberate error"),
        ] {
            let t = TestHost::new("");
            // Reused instances, as a guest's manifest asks: the failure must not outlive its call.
            let manifest = format!("config: {{ mode: {mode} }}\nlimits: {{ {limits} }}\ninstances: reused");
            t.load(&name, &name, Some(&manifest)).unwrap();
            let plugin = t.host.get(&name).unwrap();
            let error = plugin.select(&window("misbehave")).unwrap_err().to_string();
            assert!(error.contains(expected), "{name} {mode}: {error}");
            assert_eq!(plugin.select(&window("fine")).unwrap().len(), 1, "{name} after {mode}");
        }
    }
}
