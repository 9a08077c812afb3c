//! Log output on demand, for tests and benchmarks of the supervisor's log
//! pipeline: a burst as fast as the pipe takes it (`TW_PRINT_LINES`), and a
//! steady access-log stream (`TW_LOG_RATE`). Each runs on a thread of its
//! own, so the worker gets ready and serves meanwhile.
//!
//! Lines are written in chunks of about [`CHUNK`] bytes that always end at
//! a line end, each with one `write_all` under stdout's lock: no other
//! thread's `println!` can land inside a line, and the worker's own cost per
//! line stays far below the supervisor's, which is what is measured. With
//! `TW_LOG_EACH=1` the steady stream instead writes every line on its own
//! at its own time, as a server that logs each request as it ends does:
//! the supervisor then wakes up for few lines at a time.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::{Worker, env_flag, env_number};

/// Bytes gathered before a write.
const CHUNK: usize = 64 * 1024;

/// How often the steady stream writes its batch.
const TICK: Duration = Duration::from_millis(10);

/// Starts what the `TW_PRINT_LINES` and `TW_LOG_RATE` switches ask for.
pub fn start(worker: &Arc<Worker>) {
    if let Some(n) = env_number::<u64>("TW_PRINT_LINES") {
        let worker = Arc::clone(worker);
        std::thread::spawn(move || print_lines(&worker, n));
    }
    if let Some(rate) = env_number::<u64>("TW_LOG_RATE").filter(|&r| r > 0) {
        let worker = Arc::clone(worker);
        if env_flag("TW_LOG_EACH") {
            std::thread::spawn(move || log_each(&worker, rate));
        } else {
            std::thread::spawn(move || log_rate(&worker, rate));
        }
    }
}

/// `worker=<instance> pid=<pid> line=<n>` for n = 0..n-1 on stdout, then
/// `test-worker printed lines=<n> pid=<pid>` on stderr once all are written.
fn print_lines(worker: &Worker, n: u64) {
    let mut chunk = String::with_capacity(CHUNK + 128);
    for i in 0..n {
        let _ = writeln!(
            chunk,
            "worker={} pid={} line={i}",
            worker.instance, worker.pid
        );
        if chunk.len() >= CHUNK {
            write_out(&mut chunk);
        }
    }
    write_out(&mut chunk);
    eprintln!("test-worker printed lines={n} pid={}", worker.pid);
}

/// `rate` access-log lines a second on stdout until the worker stops, in a
/// batch every [`TICK`]. The schedule is absolute (lines due since the
/// start), so a late tick is made up for and the rate holds on average.
fn log_rate(worker: &Worker, rate: u64) {
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut chunk = String::with_capacity(CHUNK + 256);
    let mut tick: u32 = 0;
    while !worker.stop.load(Ordering::SeqCst) {
        let due = (start.elapsed().as_micros() as u64).saturating_mul(rate) / 1_000_000;
        while sent < due {
            access_line(&mut chunk, worker, sent);
            sent += 1;
            if chunk.len() >= CHUNK {
                write_out(&mut chunk);
            }
        }
        write_out(&mut chunk);
        tick += 1;
        let next = start + TICK * tick;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// `rate` access-log lines a second, each written on its own when it is
/// due (line n at n/rate seconds after the start); a line that is late is
/// written at once, still on its own.
fn log_each(worker: &Worker, rate: u64) {
    let start = Instant::now();
    let mut line = String::with_capacity(256);
    let mut seq: u64 = 0;
    while !worker.stop.load(Ordering::SeqCst) {
        let due = start + Duration::from_nanos(seq.saturating_mul(1_000_000_000) / rate);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        access_line(&mut line, worker, seq);
        write_out(&mut line);
        seq += 1;
    }
}

/// One line shaped like a web server's access log, about 150 bytes:
/// `access worker=<instance> pid=<pid> seq=<n> 127.0.0.1 "GET /api/posts/post-<k> HTTP/1.1" 200 <bytes> <µs>us "<agent>"`.
fn access_line(out: &mut String, worker: &Worker, seq: u64) {
    let _ = writeln!(
        out,
        "access worker={} pid={} seq={seq} 127.0.0.1 \"GET /api/posts/post-{} HTTP/1.1\" 200 {} {}us \"Mozilla/5.0 (X11; Linux x86_64) corral-bench/1.0\"",
        worker.instance,
        worker.pid,
        seq % 2000,
        1000 + seq % 4000,
        200 + seq % 900,
    );
}

/// Writes `chunk` (whole lines) to stdout in one go and empties it.
fn write_out(chunk: &mut String) {
    if chunk.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(chunk.as_bytes());
    let _ = out.flush();
    chunk.clear();
}
