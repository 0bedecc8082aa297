//! docker:// analytics against the real daemon (`.ci/run` starts it): an image built
//! offline (`tests/docker/build-image.sh`: `docker import` of a root filesystem assembled
//! from this machine's Python and the test virtualenv, then the analytic on top), seed
//! 003's K-means flow through `docker://`, and the failures (no image, no daemon).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use kestrel::config::Config;
use kestrel::ingest::{ingest, IngestOptions};
use kestrel::output::{Format, Printer};
use kestrel::run::{run_hunt, RunOptions};
use kestrel::source::SourceFile;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test virtualenv's Python (see `common::python`).
fn python() -> PathBuf {
    common::python()
}

/// Builds `kestrel-analytics-<name>` from an analytic file (cached by its hash).
fn build_image(name: &str, analytic: &str) {
    let status = Command::new(root().join("tests/docker/build-image.sh"))
        .arg(name)
        .arg(root().join(analytic))
        .arg(python())
        .status()
        .expect("run tests/docker/build-image.sh");
    assert!(
        status.success(),
        "building kestrel-analytics-{name} failed: the docker daemon must run (.ci/run starts it)"
    );
}

struct Lake {
    dir: PathBuf,
    config: Config,
}

impl Lake {
    fn new(name: &str) -> Lake {
        let dir = common::fresh_dir("analytics-docker", name);
        let db = dir.join("lake.db");
        ingest(&IngestOptions {
            files: vec![root().join("tests/fixtures/ecs_process_network.csv")],
            into: format!("sqlite:///{}", db.display()),
            table: "events".into(),
            ..Default::default()
        })
        .expect("ingest");
        let yaml = format!(
            "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: '@timestamp'\n    timestamp_format: '%Y-%m-%dT%H:%M:%S.%fZ'\nanalytics:\n  analytics_timeout: 300\n",
            db.display()
        );
        let config = Config::from_yaml_str(&yaml, None).expect("config");
        Lake { dir, config }
    }

    fn run(&self, hunt: &str) -> Result<Vec<serde_json::Value>, String> {
        let src = SourceFile::new("hunt.hf", hunt);
        let mut printer = Printer::new(Vec::new(), Format::Jsonl);
        run_hunt(
            &src,
            Some(&self.config),
            &mut printer,
            &mut Vec::new(),
            &RunOptions { summary: true },
        )
        .map_err(|d| d.render(&src))?;
        Ok(String::from_utf8(printer.into_inner())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect())
    }
}

impl Lake {
    /// The configuration as a file, for `kestrel run` in a child process.
    fn config_file(&self) -> PathBuf {
        let path = self.dir.join("kestrel.yaml");
        std::fs::write(
            &path,
            format!(
                "connections:\n  lake:\n    url: sqlite:///{}\ndatasources:\n  events:\n    connection: lake\n    table: events\n    timestamp: '@timestamp'\n",
                self.dir.join("lake.db").display()
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Seed 003's APPLY as written (its `dns_conns` came from a GET the blog shows only as
/// a screenshot), the blog's analytic code in an image, then its filter on `cluster`.
#[test]
fn seed_003_kmeans_runs_through_docker_and_its_failures_are_diagnostics() {
    build_image("my_analytic", "analytics/sklearn_cluster/analytic.py");
    let lake = Lake::new("seed003");
    let seed = std::fs::read_to_string(root().join("tests/errors/seed_003_2_kmeans.hf")).unwrap();
    let hunt = format!(
        "dns_conns = GET network-traffic FROM sqlite://events WHERE dst_port >= 0\n{seed}\n\
         outliers = dns_conns WHERE cluster = 1\n\
         DISP dns_conns ATTR dst_ref.value, src_byte_count, cluster\n\
         DISP outliers ATTR dst_ref.value, src_port, dst_byte_count\n"
    );
    let rows = lake.run(&hunt).unwrap_or_else(|e| panic!("{e}"));
    let all: Vec<_> = rows.iter().filter(|r| r.get("cluster").is_some()).collect();
    assert_eq!(all.len(), 8);
    // The three large downloads form one cluster, the rest the other.
    let big: Vec<_> = all
        .iter()
        .filter(|r| {
            ["140.82.113.4", "23.216.74.12", "104.17.123.99"]
                .contains(&r["dst_ref.value"].as_str().unwrap())
        })
        .collect();
    let label = &big[0]["cluster"];
    assert!(big.iter().all(|r| &r["cluster"] == label));
    assert!(
        all.len() - big.len() == 5 && all.iter().filter(|r| &r["cluster"] == label).count() == 3
    );
    let outliers: Vec<_> = rows
        .iter()
        .filter(|r| r.get("dst_byte_count").is_some())
        .collect();
    assert_eq!(outliers.len(), if label == 1 { 3 } else { 5 });

    // No such image.
    let err = lake
        .run(
            "dns_conns = GET network-traffic FROM sqlite://events WHERE dst_port >= 0\n\
             APPLY docker://kestrel_no_such_analytic ON dns_conns\n",
        )
        .unwrap_err();
    assert!(
        err.contains("K0306")
            && err.contains("no docker image `kestrel-analytics-kestrel_no_such_analytic`"),
        "{err}"
    );
    assert!(err.contains("2 | APPLY"), "{err}");

    // `kestrel analytics list` lists the image.
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["analytics", "list"])
        .env(
            "KESTREL_PYTHON_ANALYTICS_CONFIG",
            root().join("analytics/pythonanalytics.yaml"),
        )
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.lines().any(|l| l == "docker://my_analytic"),
        "{listed}"
    );
    assert!(
        listed.lines().any(|l| l == "python://suspicious-scoring"),
        "{listed}"
    );

    // The daemon unreachable (in a child process: tests of this binary run in parallel
    // and read DOCKER_HOST).
    let hunt = lake.dir.join("unreachable.hf");
    std::fs::write(
        &hunt,
        "c = GET network-traffic FROM sqlite://events WHERE dst_port >= 0\nAPPLY docker://my_analytic ON c\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("run")
        .arg("--config")
        .arg(lake.config_file())
        .arg(&hunt)
        .env("DOCKER_HOST", "unix:///nonexistent/kestrel-docker.sock")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the docker daemon is unreachable at /nonexistent/kestrel-docker.sock"),
        "{err}"
    );
}

/// `kestrel-analytics-sleeper`: a root filesystem holding only `/bin/sleep` and the
/// libraries it links, whose container sleeps ten minutes (built once per daemon).
fn build_sleeper() -> &'static str {
    const IMAGE: &str = "kestrel-analytics-sleeper";
    let script = r#"set -euo pipefail
docker image inspect kestrel-analytics-sleeper >/dev/null 2>&1 && exit 0
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
sleep=$(readlink -f "$(command -v sleep)")
mkdir -p "$root/bin" "$root/data"
cp "$sleep" "$root/bin/sleep"
ldd "$sleep" | awk '/=> \// { print $3 } /^\s*\/lib/ { print $1 }' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
done
tar -C "$root" -cf - . | docker import --change 'CMD ["/bin/sleep", "600"]' - kestrel-analytics-sleeper >/dev/null
"#;
    let status = Command::new("bash")
        .arg("-c")
        .arg(script)
        .status()
        .expect("bash");
    assert!(
        status.success(),
        "building {IMAGE} failed: the docker daemon must run (.ci/run starts it)"
    );
    IMAGE
}

/// Containers of `image`, running or not.
fn containers_of(image: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("ancestor={image}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A container that runs past `analytics_timeout` is killed and removed, and the APPLY
/// fails at its line; so is one that Ctrl-C stops, and `kestrel run` exits with 130.
#[cfg(unix)]
#[test]
fn docker_analytic_past_its_time_limit_or_interrupted_is_stopped_and_removed() {
    let image = build_sleeper();
    let mut lake = Lake::new("timeout");
    lake.config.analytics.analytics_timeout = 3;
    let started = std::time::Instant::now();
    let err = lake
        .run(
            "c = GET network-traffic FROM sqlite://events WHERE dst_port >= 0\n\
             APPLY docker://sleeper ON c\n",
        )
        .unwrap_err();
    assert!(
        err.contains("K0602") && err.contains("analytics_timeout") && err.contains("(3 s)"),
        "{err}"
    );
    assert!(err.contains("2 | APPLY"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(containers_of(image), Vec::<String>::new(), "left behind");

    // Ctrl-C while it runs (in the same test: both count the sleeper's containers).
    ctrl_c_during_a_docker_analytic_removes_the_container_and_exits_130(&lake, image);
}

/// Ctrl-C while a docker analytic runs: `kestrel run` kills and removes the container
/// and exits with 130.
fn ctrl_c_during_a_docker_analytic_removes_the_container_and_exits_130(lake: &Lake, image: &str) {
    let config = lake.config_file();
    let hunt = lake.dir.join("hunt.hf");
    std::fs::write(
        &hunt,
        "c = GET network-traffic FROM sqlite://events WHERE dst_port >= 0\n\
         APPLY docker://sleeper ON c\nDISP c\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .arg(&hunt)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the container to run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while containers_of(image).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the analytic's container never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "kestrel ended early");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = common::ctrl_c(child, std::time::Duration::from_secs(20));
    assert!(out.stdout.is_empty(), "nothing displayed after the APPLY");
    assert_eq!(containers_of(image), Vec::<String>::new(), "left behind");
}
