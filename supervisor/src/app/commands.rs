//! What the daemon asks of an app, turned into lifecycle events, with the
//! operator who asked waiting for the outcome where there is one.

use super::manager::Manager;
use super::waiters::{Goal, Waiter};
use super::{AppCommand, Verb};
use crate::config;
use crate::control::describe::{Description, InstancesOrigin};
use crate::cpus::CpuCount;
use crate::lifecycle::Event;

impl Manager {
    /// Carries out `command`; returns the lifecycle event it means, if any.
    pub(super) fn command(&mut self, command: AppCommand) -> Option<Event> {
        match command {
            AppCommand::Reload {
                config,
                listeners,
                log_dir,
                done,
            } => {
                self.rollout_failed("superseded by a newer reload");
                if let Some(done) = done {
                    self.waiters.push(Waiter {
                        goal: Goal::Rollout { completed: false },
                        done,
                        success: format!("{} reloaded", self.name),
                    });
                }
                Some(self.reload(config, listeners, log_dir))
            }
            AppCommand::Verb { verb, done } => {
                let name = &self.name;
                let (event, goal, success) = match verb {
                    Verb::Stop => (Event::Stop, Goal::Stopped, format!("{name} stopped")),
                    Verb::Start => (Event::Start, Goal::Online, format!("{name} started")),
                    Verb::Restart => (Event::Restart, Goal::Online, format!("{name} restarted")),
                    Verb::Scale(n) => {
                        self.scaled = Some(n);
                        let workers = if n == 1 { "worker" } else { "workers" };
                        (
                            Event::Scale(n),
                            Goal::Online,
                            format!("{name} runs {n} {workers}"),
                        )
                    }
                };
                self.waiters.push(Waiter {
                    goal,
                    done,
                    success,
                });
                Some(event)
            }
            AppCommand::Describe(reply) => {
                let _ = reply.send(self.describe());
                None
            }
            AppCommand::Tail {
                lines,
                streams,
                follow,
                reply,
            } => {
                self.logs.tail(lines, streams, follow, reply);
                None
            }
            AppCommand::ReopenLogs => {
                self.logs.reopen();
                tracing::info!(app = %self.name, "log files reopened");
                None
            }
            AppCommand::Shutdown => Some(Event::Shutdown),
        }
    }

    fn describe(&self) -> Description {
        let config = &self.current().config;
        let written = match (self.scaled, config.instances) {
            (Some(n), _) => format!("{n} (corral scale, until the next reload)"),
            (None, config::Instances::Max) => "\"max\"".into(),
            (None, config::Instances::Relative(k)) => format!("-{k}"),
            (None, config::Instances::Count(n)) => n.to_string(),
        };
        Description {
            status: self.status(),
            config: config::render_app(config, self.ctx.cpus),
            instances: InstancesOrigin {
                written,
                resolved: self.machine.slots().len(),
                cpus: CpuCount::probe(),
            },
            history: self.history.entries(),
        }
    }
}
