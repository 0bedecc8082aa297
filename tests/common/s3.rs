//! A local S3-compatible server for the tests: moto's server mode (`moto_server`, from the
//! test virtualenv), one process on a port the system hands out, gone when the [`S3Server`]
//! is dropped (or, should the test process die, with it).

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct S3Server {
    child: Child,
    pub port: u16,
}

/// The credentials every test uses (moto accepts any).
pub const ACCESS_KEY_ID: &str = "kestrel-test";
pub const SECRET_ACCESS_KEY: &str = "kestrel-test-secret";

impl S3Server {
    pub fn start() -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut cmd = Command::new(super::python());
        cmd.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // Killed with the test process, however it ends.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("moto's server starts");
        let server = S3Server { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto's S3 server does not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL parameters that reach this server.
    pub fn params(&self) -> String {
        format!(
            "endpoint={}&allow_http=true&region=us-east-1&access_key_id={ACCESS_KEY_ID}&secret_access_key={SECRET_ACCESS_KEY}",
            self.endpoint()
        )
    }

    /// Runs a Python script with `s3`, a boto3 client of this server, and `args` as
    /// `sys.argv[1:]`; its standard output. `what` names it when it fails.
    fn boto3(&self, what: &str, script: &str, args: &[&std::ffi::OsStr]) -> String {
        let preamble = format!(
            "import os, sys, boto3\n\
             s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='{ACCESS_KEY_ID}',\n\
             \x20                 aws_secret_access_key='{SECRET_ACCESS_KEY}', region_name='us-east-1')\n",
            self.endpoint()
        );
        let out = Command::new(super::python())
            .arg("-c")
            .arg(preamble + script)
            .args(args)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Copies every file under `dir` into `s3://bucket/prefix/` (the bucket is made),
    /// keeping the relative paths (and so the partition directories).
    pub fn upload(&self, dir: &Path, bucket: &str, prefix: &str) {
        const SCRIPT: &str = r#"
d, bucket, prefix = sys.argv[1:4]
s3.create_bucket(Bucket=bucket)
n = 0
for root, _, files in os.walk(d):
    for f in files:
        path = os.path.join(root, f)
        s3.upload_file(path, bucket, prefix + "/" + os.path.relpath(path, d))
        n += 1
print(n)
"#;
        let out = self.boto3(
            "upload to S3",
            SCRIPT,
            &[dir.as_os_str(), bucket.as_ref(), prefix.as_ref()],
        );
        let n: usize = out.trim().parse().unwrap();
        assert!(n > 0, "nothing to upload under {}", dir.display());
    }

    /// The keys of every object under `s3://bucket/prefix`.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        const SCRIPT: &str = r#"
bucket, prefix = sys.argv[1:3]
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        print(o["Key"])
"#;
        let what = format!("list s3://{bucket}/{prefix}");
        self.boto3(&what, SCRIPT, &[bucket.as_ref(), prefix.as_ref()])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
