//! The systemd unit `corral startup systemd` prints: `systemd/corral.service`
//! made to fit one ecosystem file, one corral binary and one user.
//!
//! Rendering is pure (the file, the binary's path and the user come in),
//! so every rule is unit-tested here; `startup` gathers those from the
//! machine and tells the operator what to do with the result.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Ecosystem;

/// Stop bound when no app asks for more: the shipped unit's value.
const MIN_STOP: Duration = Duration::from_secs(20);

/// What the supervisor still does after the longest kill_timeout: up to
/// 5 s for a process the kernel cannot kill at once, 2 s of log flush,
/// and a margin.
const STOP_MARGIN: Duration = Duration::from_secs(10);

/// Who the unit runs as and with which binary.
#[derive(Debug, Clone)]
pub(super) struct Host {
    /// The corral binary, absolute.
    pub corral: PathBuf,
    /// User and group to run as; `None` for root.
    pub user: Option<(String, String)>,
}

/// A path that cannot be written into a unit file as it is.
#[derive(Debug, thiserror::Error)]
#[error("{} cannot go into a systemd unit ({why}): move it, or write the unit by hand from systemd/corral.service", path.display())]
pub(super) struct UnitError {
    path: PathBuf,
    why: &'static str,
}

/// A rendered unit and the folders it needs to exist before it starts.
#[derive(Debug)]
pub(super) struct Unit {
    /// The unit file.
    pub text: String,
    /// `ReadWritePaths=`: systemd refuses to start the unit if one is
    /// missing, and the sandbox keeps corral from creating it.
    pub read_write: Vec<PathBuf>,
}

/// Renders the unit for `eco`, run with `--env env` if given.
pub(super) fn render(eco: &Ecosystem, env: Option<&str>, host: &Host) -> Result<Unit, UnitError> {
    let corral = exec_word(&host.corral)?;
    let file = exec_word(&eco.path)?;
    let socket = exec_word(&eco.supervisor.control_socket)?;
    let env = env.map(|e| format!(" --env {e}")).unwrap_or_default();
    let dirs = writable_dirs(eco);
    let mut sandbox = Vec::new();
    let mut read_write = Vec::new();
    for dir in &dirs {
        match managed(dir) {
            Some((key, rel)) => sandbox.push(format!("{key}={rel}\n{key}Mode={}", mode(key))),
            None => read_write.push(dir.clone()),
        }
    }
    if !read_write.is_empty() {
        let paths: Result<Vec<String>, UnitError> = read_write.iter().map(|p| word(p)).collect();
        sandbox.push(format!("ReadWritePaths={}", paths?.join(" ")));
    }
    let touched = touched_paths(eco, host);
    let home = touched
        .iter()
        .any(|p| under(p, &["/home", "/root", "/run/user"]));
    let tmp = touched.iter().any(|p| under(p, &["/tmp", "/var/tmp"]));
    let user = match &host.user {
        Some((user, group)) => format!("User={user}\nGroup={group}\n"),
        None => String::new(),
    };
    let (stop, longest) = stop_bound(eco);
    let text = format!(
        include_str!("unit.service.in"),
        ecosystem = word(&eco.path)?,
        version = env!("CARGO_PKG_VERSION"),
        user = user,
        cwd = word(&eco.base_dir)?,
        exec_start = format!("{corral} run {file}{env}"),
        exec_reload = format!("{corral} reload all --socket {socket}"),
        stop = stop.as_secs(),
        longest = longest,
        sandbox = sandbox.join("\n"),
        protect_home = if home { "read-only" } else { "yes" },
        home_note = if home {
            "# read-only, not yes: this corral, its file or its apps are under a home folder.\n"
        } else {
            ""
        },
        private_tmp = if tmp { "no" } else { "yes" },
        tmp_note = if tmp {
            "# no, not yes: this corral, its file or its apps are under /tmp, which a\n# private /tmp would hide.\n"
        } else {
            ""
        },
    );
    Ok(Unit { text, read_write })
}

/// TimeoutStopSec: above `shutdown_delay` plus the longest kill_timeout,
/// never below [`MIN_STOP`]; and what the comment says it came from.
fn stop_bound(eco: &Ecosystem) -> (Duration, String) {
    let delay = eco.supervisor.shutdown_delay;
    let longest = eco.apps.iter().max_by_key(|a| a.kill_timeout);
    let kill = longest.map_or(Duration::ZERO, |a| a.kill_timeout);
    let secs = (delay + kill + STOP_MARGIN).as_secs_f64().ceil();
    let stop = MIN_STOP.max(Duration::from_secs(secs as u64));
    let mut said = longest.map_or("no app".into(), |a| {
        format!(
            "kill_timeout {} of {}",
            humantime::format_duration(a.kill_timeout),
            a.name
        )
    });
    if !delay.is_zero() {
        said = format!(
            "shutdown_delay {} + {said}",
            humantime::format_duration(delay)
        );
    }
    (stop, said)
}

/// Every folder the supervisor writes: `log_dir`, the control socket's
/// folder, and the folders of log files given as absolute paths; none
/// inside another.
fn writable_dirs(eco: &Ecosystem) -> Vec<PathBuf> {
    let sup = &eco.supervisor;
    let mut dirs = vec![sup.log_dir.clone()];
    dirs.extend(sup.control_socket.parent().map(Path::to_owned));
    let files = eco
        .apps
        .iter()
        .flat_map(|a| [&a.logs.out, &a.logs.error])
        .chain(sup.log_file.iter().map(|l| &l.file));
    dirs.extend(files.filter_map(|f| sup.log_dir.join(f).parent().map(Path::to_owned)));
    dirs.sort();
    dirs.dedup();
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|other| other != d && d.starts_with(other)));
    dirs
}

/// A folder systemd makes and owns for the service: `/var/log/X` is
/// `LogsDirectory=X`, `/run/X` is `RuntimeDirectory=X` (made again at each
/// boot, since /run is emptied).
fn managed(dir: &Path) -> Option<(&'static str, String)> {
    for (root, key) in [("/var/log", "LogsDirectory"), ("/run", "RuntimeDirectory")] {
        if let Ok(rel) = dir.strip_prefix(root)
            && !rel.as_os_str().is_empty()
        {
            return word(rel).ok().map(|rel| (key, rel));
        }
    }
    None
}

fn mode(key: &str) -> &'static str {
    // The control socket's folder is the supervisor's alone.
    if key == "RuntimeDirectory" {
        "0700"
    } else {
        "0750"
    }
}

/// What the service must see: the binary, the file, its folders, the
/// apps' folders and programs.
fn touched_paths(eco: &Ecosystem, host: &Host) -> Vec<PathBuf> {
    let mut paths = vec![host.corral.clone(), eco.path.clone(), eco.base_dir.clone()];
    paths.extend(writable_dirs(eco));
    for app in &eco.apps {
        paths.push(app.cwd.clone());
        if app.command.starts_with('/') {
            paths.push(app.command.clone().into());
        }
    }
    paths
}

fn under(path: &Path, roots: &[&str]) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

/// A path as one word of a unit setting: `%` doubled (systemd's
/// specifiers), and refused if systemd would split or unquote it.
fn word(path: &Path) -> Result<String, UnitError> {
    let refuse = |why| UnitError {
        path: path.to_owned(),
        why,
    };
    let text = path.to_str().ok_or_else(|| refuse("it is not UTF-8"))?;
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(refuse("it holds a space, a quote or a backslash"));
    }
    Ok(text.replace('%', "%%"))
}

/// A path as one word of an `Exec*=` line: also `$` doubled.
fn exec_word(path: &Path) -> Result<String, UnitError> {
    Ok(word(path)?.replace('$', "$$"))
}

#[cfg(test)]
#[path = "unit_tests.rs"]
mod tests;
