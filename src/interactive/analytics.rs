//! The analytics `APPLY` can run, for completion.
//!
//! Hook for issue 17 (APPLY): until that module lands, the names come from what the
//! machine has: Docker images named `kestrel-analytics-NAME` (as `docker://NAME`) and
//! Python analytics profiles listed in `$KESTREL_PYTHON_ANALYTICS` (comma-separated
//! names, as `python://NAME`). Once APPLY has its own registry, [`names`] should ask it.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Analytics names as `APPLY` takes them, found once per process.
pub fn names() -> Vec<String> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(find).clone()
}

fn find() -> Vec<String> {
    let mut out = docker_images();
    if let Ok(list) = std::env::var("KESTREL_PYTHON_ANALYTICS") {
        out.extend(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| format!("python://{s}")),
        );
    }
    out
}

/// `docker://NAME` for each local image `kestrel-analytics-NAME`; nothing when Docker is
/// missing or does not answer within two seconds.
fn docker_images() -> Vec<String> {
    let child = Command::new("docker")
        .args(["image", "ls", "--format", "{{.Repository}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return Vec::new();
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Vec::new();
            }
        }
    }
    let mut text = String::new();
    if let Some(mut so) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut so, &mut text);
    }
    let mut out: Vec<String> = Vec::new();
    for repo in text.lines() {
        let name = repo.rsplit('/').next().unwrap_or(repo);
        if let Some(n) = name.strip_prefix("kestrel-analytics-") {
            let n = format!("docker://{n}");
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}
