//! `pin_cpus`: each worker slot on a CPU of its own, every thread of the
//! worker included, the same CPU for the slot's replacement, and
//! `CORRAL_CPUS` naming the CPUs its other threads may use; unpinned apps
//! keep every CPU the supervisor may use.

use nix::sched::{CpuSet, sched_getaffinity};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helper::{Corral, pid_of};

/// One pinned app with more slots than a 2-CPU machine has CPUs, so that
/// slots wrap around, and one unpinned app.
const CONFIG: &str = r#"
[[apps]]
name = "pinned"
command = "{worker}"
instances = 3
pin_cpus = true
listen = ["127.0.0.1:0"]
wait_ready = true

[[apps]]
name = "free"
command = "{worker}"
listen = ["127.0.0.1:0"]
wait_ready = true
"#;

/// The CPUs this test (and so the supervisor it starts) may use.
fn allowed() -> Vec<usize> {
    let set = sched_getaffinity(Pid::from_raw(0)).expect("sched_getaffinity");
    (0..CpuSet::count())
        .filter(|&i| set.is_set(i).unwrap_or(false))
        .collect()
}

/// The CPUs each thread of `pid` may run on, as the kernel lists them
/// (`Cpus_allowed_list` of every task); one entry per distinct list.
fn cpus_of(pid: i32) -> Vec<String> {
    let mut lists: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the worker's tasks")
        .filter_map(|task| {
            let status = std::fs::read_to_string(task.ok()?.path().join("status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|list| list.trim().to_owned())
        })
        .collect();
    lists.sort();
    lists.dedup();
    lists
}

/// This test's own CPUs as the kernel lists them (`0-3,6`): what an
/// unpinned worker keeps and what a pinned one is told in `CORRAL_CPUS`.
fn own_list() -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("own status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_owned()
}

/// `CORRAL_CPUS` in the environment `pid` was started with.
fn corral_cpus(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("the worker's environment");
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(b"CORRAL_CPUS="))
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// The pid of the online worker of `app` in `slot`.
fn online(corral: &Corral, app: &str, slot: u64) -> i32 {
    let online = corral.events("worker online");
    let event = online
        .iter()
        .rev()
        .find(|e| e["app"] == app && e["instance"] == slot)
        .unwrap_or_else(|| panic!("no worker of {app} online in slot {slot}"));
    pid_of(event)
}

#[test]
fn pinned_slots_each_get_the_next_cpu_and_a_replacement_keeps_its_slots_cpu() {
    let cpus = allowed();
    let mut corral = Corral::start(CONFIG);
    assert_eq!(corral.wait_online().len(), 4);
    for slot in 0..3 {
        let pid = online(&corral, "pinned", slot);
        let cpu = cpus[slot as usize % cpus.len()];
        assert_eq!(
            cpus_of(pid),
            vec![cpu.to_string()],
            "slot {slot} (pid {pid}): every thread on CPU {cpu} of {cpus:?}"
        );
        assert_eq!(corral_cpus(pid), Some(own_list()), "slot {slot}");
    }
    let free = online(&corral, "free", 0);
    assert_eq!(cpus_of(free), vec![own_list()], "an unpinned worker");
    assert_eq!(corral_cpus(free), None, "an unpinned worker");

    let victim = online(&corral, "pinned", 1);
    kill(Pid::from_raw(victim), Signal::SIGKILL).expect("kill slot 1");
    let back = corral.wait_for("slot 1 back", |e| {
        e["message"] == "worker online"
            && e["app"] == "pinned"
            && e["instance"] == 1
            && pid_of(e) != victim
    });
    let cpu = cpus[1 % cpus.len()];
    assert_eq!(
        cpus_of(pid_of(&back)),
        vec![cpu.to_string()],
        "the replacement"
    );
}

/// The CPU list of the thread of `pid` named `comm`.
fn thread_cpus(pid: i32, comm: &str) -> Option<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the worker's tasks")
        .filter_map(Result::ok)
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.trim() == comm)
        })
        .and_then(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|list| list.trim().to_owned())
        })
}

/// The app, pinned: its request threads stay on the worker's CPU, and its
/// SQLite writer thread moves to `CORRAL_CPUS`, so writes do not queue
/// behind requests on one CPU.
#[test]
fn the_apps_sqlite_writer_runs_on_corral_cpus_while_the_rest_stays_pinned() {
    let cpus = allowed();
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{app}"
        instances = 2
        pin_cpus = true
        listen = ["127.0.0.1:0"]
        wait_ready = true
        listen_timeout = "20s"
        [apps.env]
        DATABASE_URL = "sqlite://data/app.db"
        "#,
    );
    assert_eq!(corral.wait_online().len(), 2);
    for slot in 0..2 {
        let pid = online(&corral, "api", slot);
        let cpu = cpus[slot as usize % cpus.len()].to_string();
        assert_eq!(
            thread_cpus(pid, "sqlite-writer"),
            Some(own_list()),
            "slot {slot}"
        );
        assert_eq!(
            thread_cpus(pid, "tokio-rt-worker"),
            Some(cpu),
            "slot {slot}"
        );
    }
}
