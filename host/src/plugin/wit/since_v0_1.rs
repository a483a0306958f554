//! Contract 0.1 (`ringmaster:plugin@0.1.x`): the bindings generated from
//! `wit/`, and the one place they meet the host's own types
//! ([`crate::contract`]): conversions both ways, the host functions, and
//! the exports of a loaded component. A later contract version gets a file
//! of its own beside this one; nothing outside `plugin::wit` changes.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "host-view",
});

use self::exports::ringmaster::plugin::{commands, hook_handler, retry_policy, scheduler, timeout_estimator};
use self::ringmaster::plugin::{host, types};
use crate::contract::{self as c, ExtensionPoint};
use crate::plugin::sandbox::HostState;
use wasmtime::Store;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};

/// Adds the host interfaces plugins import to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    HostView::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}

/// The `types` interface holds types only.
impl types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: host::Level, message: String, fields: Vec<(String, String)>) {
        self.log(level.into(), &message, &fields);
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.config_value(&key)
    }

    fn config_all(&mut self) -> Vec<(String, String)> {
        self.config_values()
    }

    fn now_ms(&mut self) -> u64 {
        crate::job::now_ms()
    }
}

/// The extension points a component exports, looked up once at load.
#[derive(Default)]
pub struct Exports {
    scheduler: Option<scheduler::GuestIndices>,
    timeout_estimator: Option<timeout_estimator::GuestIndices>,
    retry_policy: Option<retry_policy::GuestIndices>,
    hook_handler: Option<hook_handler::GuestIndices>,
    commands: Option<commands::GuestIndices>,
}

/// The export of `point` was not looked up (the caller checks first).
fn missing(point: ExtensionPoint) -> wasmtime::Error {
    wasmtime::format_err!("the component does not export {point}")
}

impl Exports {
    /// Looks up each of `points` in the component; the first that does not
    /// match the contract, with why.
    pub fn new(
        pre: &InstancePre<HostState>,
        points: &[ExtensionPoint],
    ) -> Result<Exports, (ExtensionPoint, wasmtime::Error)> {
        let mut exports = Exports::default();
        for &point in points {
            let found = match point {
                ExtensionPoint::Scheduler => scheduler::GuestIndices::new(pre).map(|i| exports.scheduler = Some(i)),
                ExtensionPoint::TimeoutEstimator => {
                    timeout_estimator::GuestIndices::new(pre).map(|i| exports.timeout_estimator = Some(i))
                }
                ExtensionPoint::RetryPolicy => {
                    retry_policy::GuestIndices::new(pre).map(|i| exports.retry_policy = Some(i))
                }
                ExtensionPoint::HookHandler => {
                    hook_handler::GuestIndices::new(pre).map(|i| exports.hook_handler = Some(i))
                }
                ExtensionPoint::Commands => commands::GuestIndices::new(pre).map(|i| exports.commands = Some(i)),
            };
            found.map_err(|err| (point, err))?;
        }
        Ok(exports)
    }

    pub fn rank(&self, store: &mut Store<HostState>, at: &Instance, jobs: &[c::JobInfo]) -> wasmtime::Result<Vec<i64>> {
        let guest = self.scheduler.as_ref().ok_or_else(|| missing(ExtensionPoint::Scheduler))?;
        let jobs: Vec<types::JobInfo> = jobs.iter().map(Into::into).collect();
        guest.load(&mut *store, at)?.call_rank(store, &jobs)
    }

    pub fn select(
        &self,
        store: &mut Store<HostState>,
        at: &Instance,
        input: &c::ScheduleInput,
    ) -> wasmtime::Result<Vec<c::Assignment>> {
        let guest = self.scheduler.as_ref().ok_or_else(|| missing(ExtensionPoint::Scheduler))?;
        let chosen = guest.load(&mut *store, at)?.call_select(store, &input.into())?;
        Ok(chosen.into_iter().map(|a| c::Assignment { job_id: a.job_id, slot: a.slot }).collect())
    }

    pub fn estimate(
        &self,
        store: &mut Store<HostState>,
        at: &Instance,
        job: &c::JobInfo,
        similar: &c::SimilarJobs,
        requested_ms: Option<u64>,
        fallback: c::Timeouts,
    ) -> wasmtime::Result<c::Timeouts> {
        let guest = self.timeout_estimator.as_ref().ok_or_else(|| missing(ExtensionPoint::TimeoutEstimator))?;
        let fallback = timeout_estimator::Timeouts { hard_ms: fallback.hard_ms, idle_ms: fallback.idle_ms };
        let answer =
            guest.load(&mut *store, at)?.call_estimate(store, &job.into(), &similar.into(), requested_ms, fallback)?;
        Ok(c::Timeouts { hard_ms: answer.hard_ms, idle_ms: answer.idle_ms })
    }

    pub fn decide(
        &self,
        store: &mut Store<HostState>,
        at: &Instance,
        job: &c::JobInfo,
        attempt: u32,
        max_retries: u32,
        failure: &c::Failure,
    ) -> wasmtime::Result<c::Decision> {
        let guest = self.retry_policy.as_ref().ok_or_else(|| missing(ExtensionPoint::RetryPolicy))?;
        let decision =
            guest.load(&mut *store, at)?.call_decide(store, &job.into(), attempt, max_retries, &failure.into())?;
        Ok(decision.into())
    }

    pub fn events(&self, store: &mut Store<HostState>, at: &Instance) -> wasmtime::Result<Vec<String>> {
        let guest = self.hook_handler.as_ref().ok_or_else(|| missing(ExtensionPoint::HookHandler))?;
        guest.load(&mut *store, at)?.call_events(store)
    }

    pub fn handle(
        &self,
        store: &mut Store<HostState>,
        at: &Instance,
        event: &c::HookCall,
    ) -> wasmtime::Result<c::HookResponse> {
        let guest = self.hook_handler.as_ref().ok_or_else(|| missing(ExtensionPoint::HookHandler))?;
        let event = hook_handler::Event {
            name: event.name.clone(),
            payload_json: event.payload_json.clone(),
            job: event.job.as_ref().map(Into::into),
        };
        Ok(guest.load(&mut *store, at)?.call_handle(store, &event)?.into())
    }

    pub fn list_commands(
        &self,
        store: &mut Store<HostState>,
        at: &Instance,
    ) -> wasmtime::Result<Vec<c::PluginCommand>> {
        let guest = self.commands.as_ref().ok_or_else(|| missing(ExtensionPoint::Commands))?;
        let listed = guest.load(&mut *store, at)?.call_list_commands(store)?;
        Ok(listed
            .into_iter()
            .map(|c| c::PluginCommand { name: c.name, description: c.description, argument_hint: c.argument_hint })
            .collect())
    }

    pub fn run_command(
        &self,
        store: &mut Store<HostState>,
        at: &Instance,
        name: &str,
        arguments: &str,
    ) -> wasmtime::Result<Result<c::CommandOutcome, String>> {
        let guest = self.commands.as_ref().ok_or_else(|| missing(ExtensionPoint::Commands))?;
        Ok(guest.load(&mut *store, at)?.call_run(store, name, arguments)?.map(Into::into))
    }
}

// -- host -> contract 0.1 -----------------------------------------------------

impl From<&c::JobInfo> for types::JobInfo {
    fn from(job: &c::JobInfo) -> types::JobInfo {
        types::JobInfo {
            id: job.id.clone(),
            prompt_preview: job.prompt_preview.clone(),
            prompt_bytes: job.prompt_bytes,
            agent: job.agent.clone(),
            model: job.model.clone(),
            priority: job.priority,
            tags: job.tags.clone(),
            depth: job.depth,
            root_id: job.root_id.clone(),
            parent_id: job.parent_id.clone(),
            attempt: job.attempt,
            submitted_at_ms: job.submitted_at_ms,
        }
    }
}

impl From<&c::ScheduleInput> for scheduler::ScheduleInput {
    fn from(input: &c::ScheduleInput) -> scheduler::ScheduleInput {
        scheduler::ScheduleInput {
            candidates: input
                .candidates
                .iter()
                .map(|c| scheduler::Candidate { job: (&c.job).into(), rank: c.rank, waited_ms: c.waited_ms })
                .collect(),
            slots: input
                .slots
                .iter()
                .map(|s| scheduler::Slot {
                    index: s.index,
                    running: s.running,
                    free: s.free,
                    cooling_until_ms: s.cooling_until_ms,
                    recent_started: s.recent_started,
                    recent_failed: s.recent_failed,
                    recent_rate_limited: s.recent_rate_limited,
                })
                .collect(),
            capacity: input.capacity,
            roots: input
                .roots
                .iter()
                .map(|r| scheduler::RootLoad { root_id: r.root_id.clone(), running: r.running })
                .collect(),
            queued_total: input.queued_total,
            now_ms: input.now_ms,
        }
    }
}

impl From<c::History> for timeout_estimator::History {
    fn from(h: c::History) -> timeout_estimator::History {
        timeout_estimator::History { count: h.count, p50_ms: h.p50_ms, p95_ms: h.p95_ms, timeout_rate: h.timeout_rate }
    }
}

impl From<&c::SimilarJobs> for timeout_estimator::SimilarJobs {
    fn from(s: &c::SimilarJobs) -> timeout_estimator::SimilarJobs {
        timeout_estimator::SimilarJobs {
            by_tag: s.by_tag.iter().map(|(tag, h)| (tag.clone(), (*h).into())).collect(),
            by_agent: s.by_agent.into(),
            by_model: s.by_model.into(),
            by_prompt_size: s.by_prompt_size.into(),
            overall: s.overall.into(),
        }
    }
}

impl From<&c::Failure> for retry_policy::Failure {
    fn from(f: &c::Failure) -> retry_policy::Failure {
        use retry_policy::FailureKind as K;
        retry_policy::Failure {
            kind: match f.kind {
                c::FailureKind::Timeout => K::Timeout,
                c::FailureKind::IdleTimeout => K::IdleTimeout,
                c::FailureKind::RateLimited => K::RateLimited,
                c::FailureKind::AgentError => K::AgentError,
                c::FailureKind::Crashed => K::Crashed,
                c::FailureKind::CouldNotStart => K::CouldNotStart,
                c::FailureKind::Interrupted => K::Interrupted,
            },
            exit_code: f.exit_code,
            signal: f.signal,
            stderr_tail: f.stderr_tail.clone(),
            message: f.message.clone(),
            has_session: f.has_session,
            rate_limit_resets_at_ms: f.rate_limit_resets_at_ms,
        }
    }
}

// -- contract 0.1 -> host -----------------------------------------------------

impl From<host::Level> for c::LogLevel {
    fn from(level: host::Level) -> c::LogLevel {
        match level {
            host::Level::Trace => c::LogLevel::Trace,
            host::Level::Debug => c::LogLevel::Debug,
            host::Level::Info => c::LogLevel::Info,
            host::Level::Warn => c::LogLevel::Warn,
            host::Level::Error => c::LogLevel::Error,
        }
    }
}

impl From<retry_policy::Decision> for c::Decision {
    fn from(decision: retry_policy::Decision) -> c::Decision {
        match decision {
            retry_policy::Decision::Retry(r) => c::Decision::Retry(c::Retry {
                delay_ms: r.delay_ms,
                resume_session: r.resume_session,
                priority: r.priority,
                timeout_ms: r.timeout_ms,
            }),
            retry_policy::Decision::GiveUp(reason) => c::Decision::GiveUp(reason),
        }
    }
}

impl From<hook_handler::Response> for c::HookResponse {
    fn from(r: hook_handler::Response) -> c::HookResponse {
        c::HookResponse {
            permission: match r.permission {
                hook_handler::Permission::None => None,
                hook_handler::Permission::Allow => Some(c::HookPermission::Allow),
                hook_handler::Permission::Ask => Some(c::HookPermission::Ask),
                hook_handler::Permission::Deny => Some(c::HookPermission::Deny),
            },
            reason: r.reason,
            updated_input_json: r.updated_input_json,
            additional_context: r.additional_context,
        }
    }
}

impl From<commands::Outcome> for c::CommandOutcome {
    fn from(outcome: commands::Outcome) -> c::CommandOutcome {
        match outcome {
            commands::Outcome::Text(text) => c::CommandOutcome::Text(text),
            commands::Outcome::Submit(request) => {
                let o = request.options;
                c::CommandOutcome::Submit(c::JobRequest {
                    prompt: request.prompt,
                    options: c::JobOptions {
                        agent: o.agent,
                        model: o.model,
                        priority: o.priority,
                        tags: o.tags,
                        timeout_ms: o.timeout_ms,
                        max_retries: o.max_retries,
                        allowed_tools: o.allowed_tools,
                    },
                })
            }
        }
    }
}
