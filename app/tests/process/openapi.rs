//! The OpenAPI document against the real server: `bench/contract.sh` runs
//! Schemathesis on SQLite and on PostgreSQL (`TEST_DATABASE_URL`), and
//! fails on a server error or any answer the document does not describe.
//!
//! Schemathesis comes from PyPI into a venv under the target directory,
//! made once; without `python3 -m venv` the test says it is skipped (CI
//! checks that it can run, see `.ci/run`).

use std::path::Path;
use std::process::Command;

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let venv_works = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .status()
        .is_ok_and(|status| status.success());
    if !venv_works {
        eprintln!("skipped: python3 with venv and ensurepip is needed for Schemathesis");
        return;
    }
    let app = Path::new(env!("CARGO_BIN_EXE_app"));
    let target = app.ancestors().nth(2).expect("the target directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/contract.sh");
    if std::env::var_os("TEST_DATABASE_URL").is_none() {
        eprintln!("skipped: the PostgreSQL half (TEST_DATABASE_URL is unset)");
    }
    let run = Command::new("bash")
        .arg(&script)
        .env("APP_BIN", app)
        .env("CONTRACT_VENV", target.join("contract-venv"))
        .env("CONTRACT_SECONDS", "30")
        .output()
        .expect("run bench/contract.sh");
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success(),
        "bench/contract.sh failed; its output is above"
    );
}
