//! Runs one test of the current test binary in a child process, with its own environment:
//! for what reads process-wide variables (credentials, PATH) or must be killed mid-push.

use std::process::{Child, Command, Output, Stdio};

/// Set in the child; child tests return at once without it.
pub const CHILD_VAR: &str = "CC_PUSH_TEST_CHILD";

/// Whether this process is a child started by [`command`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_VAR).is_some()
}

/// The command running test `name` of this binary, alone, output not captured by the harness.
pub fn command(name: &str, envs: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]).env(CHILD_VAR, "1").stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the child to the end.
pub fn run(name: &str, envs: &[(&str, String)]) -> Output {
    command(name, envs).output().unwrap()
}

/// Starts the child with piped output (to kill it later).
pub fn spawn(name: &str, envs: &[(&str, String)]) -> Child {
    command(name, envs).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}
