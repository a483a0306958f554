//! When the engine process ends. It stays up while any client is connected,
//! any job is unfinished (waiting, queued, running, waiting to retry) or any
//! schedule is active (not paused: it must be up to fire); after
//! `engine.idle-exit-s` with none of these, it exits. Besides that:
//! `engine stop` (now: agents ended, their jobs recovered at the next
//! start, as after a crash), `engine stop --drain` (no new starts; exits
//! when the running jobs have ended, leaving the queue for the next
//! engine), a newer build's front-end asking to take over (exits once no
//! job is unfinished, however many clients remain: they reconnect to the
//! new one), SIGTERM and SIGINT (stop), SIGHUP (reload `ringmaster.yaml`).

use crate::config::Config;
use crate::config::live::LiveConfig;
use crate::engine::Engine;
use crate::policy::Policies;
use crate::remote::server::Control;
use crate::remote::{EngineStatus, PROTOCOL, Settings, build_id};
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Why the engine is ending, once it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Stop now.
    Stop,
    /// No new starts; stop when nothing runs.
    Drain,
    /// Stop when no job is unfinished.
    HandOver,
}

impl Ending {
    fn describe(self) -> &'static str {
        match self {
            Ending::Stop => "stopping",
            Ending::Drain => "draining",
            Ending::HandOver => "handing over to a newer build",
        }
    }
}

/// The engine process's life; answers `engine status` and `engine stop`.
pub struct Lifetime {
    engine: Engine,
    started: Instant,
    state_dir: PathBuf,
    settings: Settings,
    /// 0: never.
    idle_exit: watch::Sender<Duration>,
    ending: watch::Sender<Option<Ending>>,
    /// The config file, for SIGHUP; the policies a reload reselects.
    config: Mutex<Option<(Arc<LiveConfig>, Arc<Policies>)>>,
}

impl Lifetime {
    pub fn new(engine: Engine, state_dir: PathBuf, settings: Settings, idle_exit: Duration) -> Arc<Lifetime> {
        Arc::new(Lifetime {
            engine,
            started: Instant::now(),
            state_dir,
            settings,
            idle_exit: watch::Sender::new(idle_exit),
            ending: watch::Sender::new(None),
            config: Mutex::new(None),
        })
    }

    /// What a new version of the config file changes while the engine runs
    /// (limits, agent profiles, the policy selection, the idle exit).
    pub fn reloader(self: &Arc<Self>, policies: Arc<Policies>) -> impl FnMut(&Config) -> Result<(), String> + use<> {
        let lifetime = self.clone();
        move |new: &Config| lifetime.apply(new, &policies)
    }

    fn apply(&self, new: &Config, policies: &Policies) -> Result<(), String> {
        let mut engine_config = new.engine.clone();
        engine_config.apply_env(|name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
        self.engine.reconfigure(engine_config, new.agents.clone());
        policies.select_plugins(new.plugins.policies.clone());
        self.engine.rerank();
        // An engine that never exits on its own (embedded) keeps never.
        self.idle_exit.send_if_modified(|idle| {
            let new = Duration::from_secs(new.engine.idle_exit_s);
            let changed = !idle.is_zero() && *idle != new;
            if changed {
                *idle = new;
            }
            changed
        });
        Ok(())
    }

    /// Remembers the live config file (for SIGHUP).
    pub fn set_config(&self, live: Option<Arc<LiveConfig>>, policies: Arc<Policies>) {
        *self.config.lock() = live.map(|live| (live, policies));
    }

    /// Reloads the config file, as a change to it would.
    fn reload(&self) {
        let Some((live, policies)) = self.config.lock().clone() else {
            tracing::info!("SIGHUP: no config file to reload");
            return;
        };
        live.reload(&mut |new: &Config| self.apply(new, &policies));
    }

    fn end(&self, ending: Ending) {
        self.ending.send_if_modified(|current| {
            // A stop overrides a drain or a handover; nothing undoes one.
            let stronger = match current {
                None => true,
                Some(Ending::Stop) => false,
                Some(_) => ending == Ending::Stop,
            };
            if stronger {
                tracing::info!("engine {}", ending.describe());
                *current = Some(ending);
            }
            stronger
        });
    }

    /// Returns when the engine should stop: see the module doc. `clients`
    /// counts open connections.
    pub async fn until_done(&self, mut clients: watch::Receiver<usize>) {
        let mut changes = self.engine.subscribe();
        let mut ending = self.ending.subscribe();
        let mut idle_exit = self.idle_exit.subscribe();
        let mut signals = Signals::new();
        loop {
            let unfinished = self.engine.unfinished();
            match *ending.borrow_and_update() {
                Some(Ending::Stop) => return,
                Some(Ending::Drain) if self.engine.running() == 0 => return,
                Some(Ending::HandOver) if unfinished == 0 => return,
                _ => {}
            }
            let idle_for = *idle_exit.borrow_and_update();
            let idle = *clients.borrow_and_update() == 0
                && unfinished == 0
                && self.engine.active_schedules() == 0
                && !idle_for.is_zero();
            let timer = async {
                match idle {
                    true => tokio::time::sleep(idle_for).await,
                    false => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = changes.changed() => {}
                _ = clients.changed() => {}
                _ = ending.changed() => {}
                _ = idle_exit.changed() => {}
                signal = signals.next() => match signal {
                    Signal::Stop => self.end(Ending::Stop),
                    Signal::Reload => self.reload(),
                },
                () = timer => {
                    tracing::info!(idle_s = idle_for.as_secs(), "no clients, jobs or schedules: exiting (engine.idle-exit-s)");
                    return;
                }
            }
        }
    }
}

impl Control for Lifetime {
    fn status(&self, clients: usize) -> EngineStatus {
        EngineStatus {
            pid: std::process::id(),
            build: build_id(),
            protocol: PROTOCOL,
            uptime_s: self.started.elapsed().as_secs(),
            clients,
            jobs: self.engine.jobs_by_status().unwrap_or_default(),
            state_dir: self.state_dir.clone(),
            settings: self.settings.clone(),
            idle_exit_s: self.idle_exit.borrow().as_secs(),
            stopping: (*self.ending.borrow()).map(|e| e.describe().to_string()),
        }
    }

    fn stop(&self, drain: bool) {
        if drain {
            self.engine.drain();
            self.end(Ending::Drain);
        } else {
            self.end(Ending::Stop);
        }
    }

    fn hand_over(&self) {
        self.end(Ending::HandOver);
    }
}

/// What a signal asks of the engine.
enum Signal {
    Stop,
    Reload,
}

/// SIGTERM, SIGINT and SIGHUP, as they come. A signal whose handler cannot
/// be installed is left at its default (and logged).
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|err| tracing::warn!(error = %err, "cannot handle {name}")).ok()
        };
        Signals {
            term: install(SignalKind::terminate(), "SIGTERM"),
            int: install(SignalKind::interrupt(), "SIGINT"),
            hup: install(SignalKind::hangup(), "SIGHUP"),
        }
    }

    async fn next(&mut self) -> Signal {
        async fn on(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = on(&mut self.term) => Signal::Stop,
            () = on(&mut self.int) => Signal::Stop,
            () = on(&mut self.hup) => Signal::Reload,
        }
    }
}
