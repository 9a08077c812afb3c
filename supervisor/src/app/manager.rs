//! The manager task of one app: the loop that feeds the lifecycle its
//! events and carries out its actions.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::history::History;
use super::waiters::{Goal, Waiter};
use super::{AppCommand, AppContext, Done};
use crate::config::AppConfig;
use crate::lifecycle::{App, Event, Params, WorkerId};
use crate::logs::{AppLogs, LogSetup};
use crate::worker::WorkerHandle;

/// One config generation and what was built from it: new workers of that
/// generation are started with these.
pub(super) struct Applied {
    pub config: Arc<AppConfig>,
    pub listeners: Vec<Arc<OwnedFd>>,
    /// The folder of the app's log files under this config.
    pub log_dir: PathBuf,
}

/// A worker process the manager started and has not seen exit yet.
pub(super) struct Running {
    pub handle: WorkerHandle,
    /// Its config's `kill_signal`: a reload must not change how an older
    /// worker is asked to stop.
    pub kill_signal: Signal,
    pub generation: u64,
    /// When it was spawned, on the wall clock (for status).
    pub started_at: chrono::DateTime<chrono::Utc>,
}

pub(super) struct Manager {
    pub ctx: AppContext,
    /// Which manager this is (see `MANAGERS`).
    pub serial: u64,
    pub name: String,
    pub machine: App,
    /// The configs that new workers may still be started with: the one in
    /// force and, during a rollout, the one it would go back to.
    pub configs: BTreeMap<u64, Applied>,
    pub running: HashMap<WorkerId, Running>,
    /// The app's log pipeline, shared by every generation: its files follow
    /// the config in force.
    pub logs: AppLogs,
    /// The generation whose log setup `logs` has.
    logs_generation: u64,
    pub events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Generations handed out so far; never reused, even after a rollback.
    generations: u64,
    /// Operators waiting for a command to be carried out.
    pub(super) waiters: Vec<Waiter>,
    /// What happened to the workers lately.
    pub(super) history: History,
    /// The instance count `corral scale` set, until the next reload.
    pub(super) scaled: Option<usize>,
}

impl Manager {
    pub(super) fn new(
        ctx: AppContext,
        serial: u64,
        config: Arc<AppConfig>,
        listeners: Vec<Arc<OwnedFd>>,
        log_dir: PathBuf,
        done: Option<Done>,
    ) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let logs = AppLogs::start(
            log_setup(&config, &log_dir),
            ctx.compressor.clone(),
            &ctx.launcher.tracker,
        );
        let machine = App::new(Params::new(&config, ctx.cpus), Instant::now());
        let applied = Applied {
            config: config.clone(),
            listeners,
            log_dir,
        };
        Self {
            ctx,
            serial,
            name: config.name.clone(),
            machine,
            configs: BTreeMap::from([(0, applied)]),
            running: HashMap::new(),
            logs,
            logs_generation: 0,
            events_tx,
            events,
            generations: 0,
            waiters: done
                .into_iter()
                .map(|done| Waiter {
                    goal: Goal::Online,
                    done,
                    success: format!("{} started", config.name),
                })
                .collect(),
            history: History::default(),
            scaled: None,
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<AppCommand>) {
        self.step(Event::Tick);
        let mut stopping = false;
        loop {
            self.publish();
            if self.machine.finished() {
                tracing::info!(app = %self.name, "app stopped");
                self.unpublish();
                return;
            }
            let deadline = self.machine.deadline();
            let event = tokio::select! {
                Some(event) = self.events.recv() => event,
                command = commands.recv(), if !stopping => match command {
                    Some(command) => match self.command(command) {
                        Some(event) => event,
                        None => continue,
                    },
                    None => Event::Shutdown,
                },
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => Event::Tick,
            };
            stopping |= event == Event::Shutdown;
            self.step(event);
        }
    }

    /// Hands `event` to the lifecycle and carries out what it decides,
    /// including what that feeds back at once (a spawn that failed).
    fn step(&mut self, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            for action in self.machine.handle(event, Instant::now()) {
                queue.extend(self.execute(action));
            }
        }
        let keep = [
            Some(self.machine.generation()),
            self.machine.previous_generation(),
        ];
        self.configs
            .retain(|generation, _| keep.contains(&Some(*generation)));
        // The log files follow the config in force: a reload's, or the one
        // a stopped rollout put back.
        if self.logs_generation != self.machine.generation() {
            self.logs_generation = self.machine.generation();
            let current = self.current();
            let setup = log_setup(&current.config, &current.log_dir);
            self.logs.reconfigure(setup);
        }
        self.check_waiters();
    }

    /// A new config from the daemon becomes a new generation.
    pub(super) fn reload(
        &mut self,
        config: Arc<AppConfig>,
        listeners: Vec<Arc<OwnedFd>>,
        log_dir: PathBuf,
    ) -> Event {
        tracing::info!(app = %self.name, "reload started");
        self.scaled = None;
        self.generations += 1;
        let generation = self.generations;
        let params = Params::new(&config, self.ctx.cpus);
        self.configs.insert(
            generation,
            Applied {
                config,
                listeners,
                log_dir,
            },
        );
        Event::Reload {
            params: Box::new(params),
            generation,
        }
    }

    /// The config in force.
    pub(super) fn current(&self) -> &Applied {
        let generation = self.machine.generation();
        self.configs
            .get(&generation)
            .expect("the config in force is kept")
    }
}

/// Where and how `config`'s workers' output is written.
fn log_setup(config: &AppConfig, log_dir: &std::path::Path) -> LogSetup {
    LogSetup::new(&config.name, log_dir, &config.logs, &config.log_date_format)
}
