//! The whole document: top-level keys, `[supervisor]`, and the list of apps
//! with the checks that span several apps (unique names, `--env`).

use std::path::Path;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, Location, Problem, Source};
use super::fields::Table;
use super::{AppConfig, SupervisorConfig, app, resolve_path};

const TOP_KEYS: &[&str] = &["supervisor", "apps"];
pub(super) const SUPERVISOR_KEYS: &[&str] = &[
    "log_dir",
    "control_socket",
    "admin_listen",
    "shutdown_delay",
    "logs",
];

/// Parses the text of `src`; relative paths resolve against `base_dir`.
pub(super) fn parse(
    src: &Source<'_>,
    base_dir: &Path,
    env_name: Option<&str>,
) -> Result<(SupervisorConfig, Vec<AppConfig>), ConfigError> {
    let doc = DeTable::parse(src.text).map_err(|e| syntax_error(src, &e))?;
    let root = Table::new(
        src,
        doc.get_ref(),
        doc.span(),
        String::new(),
        "the top-level table",
    );
    root.reject_unknown(TOP_KEYS, |_| false)?;
    let supervisor = supervisor(root.table("supervisor", "[supervisor]")?, base_dir)?;

    let apps_value = root.get("apps").ok_or_else(|| src.whole(Problem::NoApps))?;
    let items = match apps_value.get_ref() {
        DeValue::Array(items) if !items.is_empty() => items,
        DeValue::Array(_) => return Err(src.at(apps_value.span(), Problem::NoApps)),
        _ => return Err(root.wrong_type("apps", apps_value, "an array of tables, [[apps]]")),
    };

    let mut apps: Vec<AppConfig> = Vec::with_capacity(items.len());
    let mut name_starts = Vec::with_capacity(items.len());
    let mut env_selected = false;
    for (i, item) in items.iter().enumerate() {
        let path = format!("apps[{i}]");
        let Some(entries) = item.get_ref().as_table() else {
            return Err(root.wrong_type(&path, item, "a table"));
        };
        let table = Table::new(src, entries, item.span(), path, "[[apps]]");
        let (app, has_env) = app::parse(&table, base_dir, env_name)?;
        let name_value = table.get("name");
        let duplicate = apps.iter().position(|a| a.name == app.name);
        if let (Some(first), Some(value)) = (duplicate, name_value) {
            let line = Location::from_offset(src.text, name_starts[first]).line;
            let reason = format!(
                "duplicate app name {:?}, first used on line {line}",
                app.name
            );
            return Err(table.invalid("name", value, reason));
        }
        if let Some(value) = table.get("listen") {
            // Port 0 asks for any free port: a socket of the app's own.
            let shared = app
                .listen
                .iter()
                .filter(|a| a.port() != 0)
                .find_map(|addr| {
                    let other = apps.iter().find(|a| a.listen.contains(addr))?;
                    Some((*addr, other.name.clone()))
                });
            if let Some((addr, other)) = shared {
                let reason = format!(
                    "{addr} is already the listen address of app {other:?}; two apps cannot share one socket"
                );
                return Err(table.invalid("listen", value, reason));
            }
        }
        name_starts.push(name_value.map_or(0, |v| v.span().start));
        env_selected |= has_env;
        apps.push(app);
    }
    match env_name {
        Some(name) if !env_selected => Err(src.whole(Problem::UnusedEnv(name.to_owned()))),
        _ => Ok((supervisor, apps)),
    }
}

/// `[supervisor]`, or its defaults when the table is absent.
fn supervisor(
    table: Option<Table<'_, '_>>,
    base_dir: &Path,
) -> Result<SupervisorConfig, ConfigError> {
    let Some(t) = table else {
        return Ok(SupervisorConfig {
            log_dir: resolve_path(base_dir, "logs"),
            control_socket: resolve_path(base_dir, "run/corral.sock"),
            admin_listen: None,
            shutdown_delay: Duration::ZERO,
            log_file: None,
        });
    };
    t.reject_unknown(SUPERVISOR_KEYS, |_| false)?;
    let path = |key, default: &str| -> Result<_, ConfigError> {
        Ok(resolve_path(
            base_dir,
            t.string(key)?.as_deref().unwrap_or(default),
        ))
    };
    Ok(SupervisorConfig {
        log_dir: path("log_dir", "logs")?,
        control_socket: path("control_socket", "run/corral.sock")?,
        admin_listen: t.parsed("admin_listen", "address", app::parse_socket_addr)?,
        shutdown_delay: t.duration("shutdown_delay")?.unwrap_or_default(),
        log_file: t
            .table("logs", "[supervisor.logs]")?
            .map(|t| app::own_log(&t))
            .transpose()?,
    })
}

/// toml's message without its multi-line source snippet, at toml's position.
fn syntax_error(src: &Source<'_>, error: &toml::de::Error) -> ConfigError {
    let message = error.message().trim().replace('\n', "; ");
    match error.span() {
        Some(span) => src.at(span, Problem::Syntax(message)),
        None => src.whole(Problem::Syntax(message)),
    }
}
