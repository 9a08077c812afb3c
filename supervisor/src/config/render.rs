//! The resolved config as TOML, for `corral check` and `corral describe`.
//!
//! Every key is written, defaults included, so an operator sees what will
//! actually run; values are in the units the file uses, so the output can be
//! pasted back into an ecosystem file. Keys that are off are comments, since
//! TOML has no null.

use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

use super::fields::written_key;
use super::units::{format_duration, format_size};
use super::{AppConfig, Ecosystem, Instances, LogFormat, RotateInterval, Rotation};

/// Words in an env key that suggest its value must not be printed.
const SECRET_WORDS: [&str; 5] = ["SECRET", "PASSWORD", "TOKEN", "KEY", "CREDENTIAL"];

/// Prints `eco` as TOML, with `instances` resolved for `cpus` CPUs,
/// secret-looking env values masked as `"***"` and the passwords in URLs
/// masked in every env value, so the output is safe to paste into a bug
/// report.
pub fn render(eco: &Ecosystem, cpus: usize) -> String {
    let mut out = Out::default();
    out.line(&format!("# resolved from {}", eco.path.display()));
    out.line("[supervisor]");
    let sup = &eco.supervisor;
    out.set("log_dir", path(&sup.log_dir));
    out.set("control_socket", path(&sup.control_socket));
    out.maybe(
        "admin_listen",
        sup.admin_listen.map(|a| quote(&a.to_string())),
    );
    out.set("shutdown_delay", duration(sup.shutdown_delay));
    match &sup.log_file {
        None => out.maybe("logs", None),
        Some(own) => {
            out.line("\n[supervisor.logs]");
            out.set("file", quote(&own.file));
            format_and_rotation(&mut out, own.format, &own.rotation);
        }
    }
    for app in &eco.apps {
        write_app(&mut out, app, cpus);
    }
    out.0
}

/// One app's table as [`render`] prints it, for `corral describe`.
pub fn render_app(app: &AppConfig, cpus: usize) -> String {
    let mut out = Out::default();
    write_app(&mut out, app, cpus);
    out.0.trim_start().to_owned()
}

fn write_app(out: &mut Out, app: &AppConfig, cpus: usize) {
    out.line("\n[[apps]]");
    out.set("name", quote(&app.name));
    out.set("command", quote(&app.command));
    out.set(
        "args",
        array(app.args.iter().map(|arg| mask_url_secrets(arg))),
    );
    out.set("cwd", path(&app.cwd));
    let resolved = app.instances.resolve(cpus);
    match app.instances {
        Instances::Max => out.set("instances", format!("{resolved} # \"max\" on this machine")),
        Instances::Relative(k) => {
            out.set(
                "instances",
                format!("{resolved} # -{k} (max-{k}) on this machine"),
            );
        }
        Instances::Count(_) => out.set("instances", resolved),
    }
    out.set("pin_cpus", app.pin_cpus);
    out.set("listen", array(app.listen.iter()));
    out.set("listen_backlog", app.listen_backlog);
    out.maybe("user", app.user.as_deref().map(quote));
    out.maybe("group", app.group.as_deref().map(quote));
    out.set("kill_signal", quote(app.kill_signal.as_str()));
    out.set("kill_timeout", duration(app.kill_timeout));
    out.set("wait_ready", app.wait_ready);
    out.set("listen_timeout", duration(app.listen_timeout));
    out.set("autorestart", app.autorestart);
    out.set("min_uptime", duration(app.min_uptime));
    out.set("max_restarts", app.max_restarts);
    out.set("restart_delay", duration(app.restart_delay));
    match app.exp_backoff_restart_delay {
        Some(base) => out.set("exp_backoff_restart_delay", duration(base)),
        None => out.set("exp_backoff_restart_delay", "\"0ms\" # off"),
    }
    out.maybe("max_memory_restart", app.max_memory_restart.map(size));
    out.set("memory_check_interval", duration(app.memory_check_interval));
    out.set("memory_check_samples", app.memory_check_samples);
    out.maybe("watchdog", app.watchdog.map(duration));
    out.set("log_date_format", quote(&app.log_date_format));
    match &app.health_check {
        None => out.line("# health_check: off"),
        Some(health) => {
            out.line("\n[apps.health_check]");
            out.set("path", quote(&health.path));
            out.set("interval", duration(health.interval));
            out.set("timeout", duration(health.timeout));
            out.set("grace_period", duration(health.grace_period));
            out.set("failures", health.failures);
        }
    }
    let logs = &app.logs;
    out.line("\n[apps.logs]");
    out.set("out", quote(&logs.out));
    out.set("error", quote(&logs.error));
    format_and_rotation(out, logs.format, &logs.rotation);
    out.line("\n[apps.env]");
    for (key, value) in &app.env {
        let shown = if is_secret(key) {
            "***".to_owned()
        } else {
            mask_url_secrets(value)
        };
        out.set(&written_key(key), quote(&shown));
    }
}

fn format_and_rotation(out: &mut Out, format: LogFormat, rotation: &Rotation) {
    out.set(
        "format",
        quote(match format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }),
    );
    out.maybe("max_size", rotation.max_size.map(size));
    let interval = rotation.interval.map(|i| match i {
        RotateInterval::Hourly => quote("hourly"),
        RotateInterval::Daily => quote("daily"),
    });
    out.maybe("rotate_interval", interval);
    out.set("retain", rotation.retain);
    out.set("compress", rotation.compress);
}

/// Lines of TOML being built.
#[derive(Default)]
struct Out(String);

impl Out {
    fn line(&mut self, line: &str) {
        self.0.push_str(line);
        self.0.push('\n');
    }

    fn set(&mut self, key: &str, value: impl Display) {
        self.line(&format!("{key} = {value}"));
    }

    /// A key whose absence means "off"; written as a comment when absent.
    fn maybe(&mut self, key: &str, value: Option<String>) {
        match value {
            Some(value) => self.set(key, value),
            None => self.line(&format!("# {key}: off")),
        }
    }
}

fn is_secret(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|word| upper.contains(word))
}

/// `value` with `***` in place of the password of every URL in it
/// (`postgres://user:***@host/db`) and of every secret-looking query
/// parameter (`?password=***`). Lexical, as a URL parser splits a URL:
/// the authority ends at the first `/`, `?` or `#`, the user info at its
/// last `@`, the user name at its first `:`. A value may hold several URLs
/// (`a://u:p@h1,b://u:p@h2`); each ends where the next `://` begins.
fn mask_url_secrets(value: &str) -> String {
    let starts: Vec<usize> = value.match_indices("://").map(|(i, _)| i + 3).collect();
    let mut secrets = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let limit = starts.get(n + 1).map_or(value.len(), |next| next - 3);
        let url = &value[start..limit];
        let url = &url[..url.find(char::is_whitespace).unwrap_or(url.len())];
        let authority = &url[..url.find(['/', '?', '#']).unwrap_or(url.len())];
        let password = authority
            .rfind('@')
            .and_then(|at| Some((authority[..at].find(':')? + 1, at)));
        if let Some((from, to)) = password {
            secrets.push(start + from..start + to);
        }
        let Some(query) = url.find('?') else {
            continue;
        };
        let query_end = url.find('#').filter(|&i| i > query).unwrap_or(url.len());
        let mut offset = start + query + 1;
        for pair in url[query + 1..query_end].split('&') {
            if let Some((name, _)) = pair.split_once('=')
                && is_secret(name)
            {
                secrets.push(offset + name.len() + 1..offset + pair.len());
            }
            offset += pair.len() + 1;
        }
    }
    let mut masked = String::with_capacity(value.len());
    let mut copied = 0;
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        masked.push_str(&value[copied..secret.start]);
        masked.push_str("***");
        copied = secret.end;
    }
    masked.push_str(&value[copied..]);
    masked
}

fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn path(path: &Path) -> String {
    quote(&path.display().to_string())
}

fn duration(duration: Duration) -> String {
    quote(&format_duration(duration))
}

fn size(bytes: u64) -> String {
    quote(&format_size(bytes))
}

fn array<T: ToString>(items: impl Iterator<Item = T>) -> String {
    let items: Vec<String> = items.map(|item| quote(&item.to_string())).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::mask_url_secrets;

    #[test]
    fn url_passwords_are_masked() {
        for (value, shown) in [
            (
                "postgres://user:pass@host/db",
                "postgres://user:***@host/db",
            ),
            ("postgres://user:pass@host", "postgres://user:***@host"),
            ("redis://:pass@host:6379/0", "redis://:***@host:6379/0"),
            (
                "postgres://user:p@ss:w0rd@host:5432/db",
                "postgres://user:***@host:5432/db",
            ),
            (
                "amqp://u:one@h1/v,amqp://u:two@h2/v",
                "amqp://u:***@h1/v,amqp://u:***@h2/v",
            ),
            (
                "mongodb://u:pw@h1:27017,h2:27017/db?replicaSet=rs",
                "mongodb://u:***@h1:27017,h2:27017/db?replicaSet=rs",
            ),
            (
                "postgresql://host/db?user=api&password=pw&sslmode=require",
                "postgresql://host/db?user=api&password=***&sslmode=require",
            ),
            (
                "--db=mysql://root:pw@db --x",
                "--db=mysql://root:***@db --x",
            ),
        ] {
            assert_eq!(mask_url_secrets(value), shown, "{value}");
        }
    }

    #[test]
    fn values_without_url_secrets_are_unchanged() {
        for value in [
            "postgres://api@db/api",
            "http://host:8080/a@b",
            "https://example.com/?q=1#x",
            "postgres://u:@host/db",
            "info",
            "",
            "://",
            "a:b@c",
        ] {
            assert_eq!(mask_url_secrets(value), value);
        }
    }
}
