//! Start-up of the cgroup side: finding out where this process stands in
//! the cgroup tree, and creating what the [`Plan`] says.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cgroup;
use super::layout::{Facts, Plan, dir_of, systemd_v1_path, v2_path};

/// Whether systemd marked `dir` as delegated (`trusted.delegate` or, for
/// unprivileged managers, `user.delegate` set to `1`).
pub fn is_delegated(dir: &Path) -> bool {
    ["trusted.delegate", "user.delegate"].iter().any(|name| {
        let mut value = [0u8; 8];
        rustix::fs::getxattr(dir, *name, &mut value).is_ok_and(|len| value[..len] == *b"1")
    })
}

/// What start-up finds out about this process's cgroup.
pub fn discover() -> Facts {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounts = procfs::process::Process::myself()
        .and_then(|me| me.mountinfo())
        .map(|m| m.0)
        .unwrap_or_default();
    let find = |path: &str, is_mount: &dyn Fn(&procfs::process::MountInfo) -> bool| {
        mounts
            .iter()
            .filter(|m| is_mount(m))
            .find_map(|m| dir_of(&m.mount_point, &m.root, path))
            .filter(|dir| dir.is_dir())
    };
    let own = v2_path(&text).and_then(|path| find(path, &|m| m.fs_type == "cgroup2"));
    let systemd_v1 = systemd_v1_path(&text).and_then(|path| {
        find(path, &|m| {
            m.fs_type == "cgroup"
                && m.super_options.get("name") == Some(&Some("systemd".to_owned()))
        })
    });
    let delegated =
        own.as_deref().is_some_and(is_delegated) || systemd_v1.as_deref().is_some_and(is_delegated);
    Facts {
        own,
        delegated,
        systemd: Path::new("/run/systemd/system").is_dir(),
    }
}

/// The cgroups corral set up: `base` holds one cgroup per worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The directory corral owns and removes when it stops.
    pub base: PathBuf,
    /// How corral came by it, for the start-up log.
    pub origin: &'static str,
}

/// How long start-up waits for processes left in a stale `base` to die.
const STALE_BOUND: Duration = Duration::from_secs(5);

/// Carries out `plan`; `Err` says why cgroups cannot be used after all.
pub fn apply(plan: Plan) -> Result<Layout, String> {
    match plan {
        Plan::Off(reason) => Err(reason),
        Plan::Delegated { own } => {
            let home = own.join("supervisor");
            match cgroup::create(&home) {
                Err(err) if err.kind() != ErrorKind::AlreadyExists => {
                    return Err(format!("cannot create {}: {err}", home.display()));
                }
                _ => {}
            }
            cgroup::join(&home).map_err(|err| {
                format!("cannot move the supervisor into {}: {err}", home.display())
            })?;
            make_base(own.join("workers"), "delegated by systemd")
        }
        Plan::Nested { base } => make_base(base, "created in corral's own cgroup"),
    }
}

/// Creates `base`, first removing a stale one (left by an earlier corral
/// with our pid whose guard could not finish), and checks `cgroup.kill`.
fn make_base(base: PathBuf, origin: &'static str) -> Result<Layout, String> {
    let cannot = |err: std::io::Error| format!("cannot create {}: {err}", base.display());
    match cgroup::create(&base) {
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            cgroup::remove_tree(&base, STALE_BOUND).map_err(cannot)?;
            cgroup::create(&base).map_err(cannot)?;
        }
        other => other.map_err(cannot)?,
    }
    if !cgroup::can_kill(&base) {
        let _ = fs::remove_dir(&base);
        return Err("the kernel has no cgroup.kill (Linux 5.14 or later is needed)".into());
    }
    Ok(Layout { base, origin })
}
