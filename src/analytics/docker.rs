//! `docker://NAME`: the image `kestrel-analytics-NAME`, run once per APPLY.
//!
//! In: a [`Job`] whose directory is mounted at `/data` (`/data/input/<i>.parquet.gz` per
//! ON variable), the WITH parameters as environment variables named as written. Out:
//! `/data/output/<i>.parquet.gz` (a missing file leaves that variable unchanged) and at
//! most one file in `/data/display/`.
//!
//! kestrel talks to the daemon as the docker CLI does: HTTP/1.1 over the Unix socket
//! `$DOCKER_HOST` names (`unix:///path`), else `/var/run/docker.sock`. The few calls it
//! makes (inspect an image, create, start, inspect, kill and remove a container, read
//! its logs, list images) need no client library.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::{AnalyticsError, Display, Interface, Job, Outcome};

/// The prefix of every analytics image.
pub const IMAGE_PREFIX: &str = "kestrel-analytics-";

pub struct Docker {
    socket: Result<PathBuf, String>,
}

impl Docker {
    pub fn from_env() -> Docker {
        let socket = match std::env::var("DOCKER_HOST") {
            Ok(h) if !h.is_empty() => match h.strip_prefix("unix://") {
                Some(p) => Ok(PathBuf::from(p)),
                None => Err(format!(
                    "DOCKER_HOST is `{h}`; kestrel reaches the docker daemon over a Unix socket only (unix:///path)"
                )),
            },
            _ => Ok(PathBuf::from("/var/run/docker.sock")),
        };
        Docker { socket }
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> AnalyticsError {
        let at = match &self.socket {
            Ok(p) => p.display().to_string(),
            Err(m) => m.clone(),
        };
        AnalyticsError::Unavailable {
            message: format!("the docker daemon is unreachable at {at}: {e}"),
            help: "start dockerd, or point DOCKER_HOST at its socket (unix:///path)".into(),
        }
    }

    /// One request; returns the status and the body.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, Vec<u8>), AnalyticsError> {
        let socket = self
            .socket
            .as_ref()
            .map_err(|m| AnalyticsError::Unavailable {
                message: m.clone(),
                help: "unset DOCKER_HOST or give the daemon's socket".into(),
            })?;
        #[cfg(unix)]
        {
            let mut stream =
                std::os::unix::net::UnixStream::connect(socket).map_err(|e| self.unreachable(e))?;
            stream
                .set_read_timeout(Some(Duration::from_secs(120)))
                .map_err(|e| self.unreachable(e))?;
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: kestrel\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream
                .write_all(req.as_bytes())
                .map_err(|e| self.unreachable(e))?;
            read_response(stream).map_err(|e| self.unreachable(e))
        }
        #[cfg(not(unix))]
        {
            let _ = (method, path, body, socket);
            Err(self.unreachable("Unix sockets are not available on this system"))
        }
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        ok: &[u16],
    ) -> Result<serde_json::Value, AnalyticsError> {
        let (status, bytes) = self.call(method, path, body)?;
        if !ok.contains(&status) {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let msg = v
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
            return Err(AnalyticsError::Failed {
                message: format!(
                    "docker: {method} {} answered {status}: {msg}",
                    path.split('?').next().unwrap_or(path)
                ),
                details: String::new(),
            });
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    fn remove(&self, id: &str) {
        let _ = self.call("DELETE", &format!("/containers/{id}?force=true"), None);
    }

    fn logs(&self, id: &str) -> String {
        match self.call(
            "GET",
            &format!("/containers/{id}/logs?stdout=true&stderr=true"),
            None,
        ) {
            Ok((200, bytes)) => demux(&bytes),
            _ => String::new(),
        }
    }
}

impl Interface for Docker {
    fn list(&mut self) -> Result<Vec<String>, AnalyticsError> {
        let v = self.json("GET", "/images/json", None, &[200])?;
        let mut names = Vec::new();
        for image in v.as_array().into_iter().flatten() {
            for tag in image
                .get("RepoTags")
                .and_then(|t| t.as_array())
                .into_iter()
                .flatten()
            {
                let Some(tag) = tag.as_str() else { continue };
                let repo = tag.rsplit_once(':').map_or(tag, |(r, _)| r);
                if let Some(name) = repo.strip_prefix(IMAGE_PREFIX) {
                    if !names.iter().any(|n| n == name) {
                        names.push(name.to_string());
                    }
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn run(&mut self, name: &str, job: &Job) -> Result<Outcome, AnalyticsError> {
        let image = format!("{IMAGE_PREFIX}{name}");
        let (status, _) = self.call("GET", &format!("/images/{}/json", urlencode(&image)), None)?;
        if status == 404 {
            return Err(AnalyticsError::NotFound {
                message: format!("no docker image `{image}`"),
                help: format!("build it: `docker build -t {image} .` in the analytic's folder"),
            });
        }
        let dir = job
            .dir
            .canonicalize()
            .map_err(|e| AnalyticsError::Io(format!("analytics job directory: {e}")))?;
        let env: Vec<String> = job.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let body = serde_json::json!({
            "Image": image,
            "Env": env,
            "AttachStdout": false,
            "AttachStderr": false,
            "HostConfig": {"Binds": [format!("{}:/data", dir.display())]},
        });
        let created = self.json("POST", "/containers/create", Some(&body), &[201])?;
        let Some(id) = created
            .get("Id")
            .and_then(|i| i.as_str())
            .map(str::to_string)
        else {
            return Err(AnalyticsError::Failed {
                message: "docker: creating the container returned no id".into(),
                details: String::new(),
            });
        };
        let result = (|| {
            self.json(
                "POST",
                &format!("/containers/{id}/start"),
                None,
                &[204, 304],
            )?;
            let code = super::wait(
                job.timeout,
                || {
                    let v = self.json("GET", &format!("/containers/{id}/json"), None, &[200])?;
                    let state = &v["State"];
                    if state["Running"].as_bool() == Some(true) {
                        return Ok(None);
                    }
                    Ok(Some(state["ExitCode"].as_i64().unwrap_or(-1)))
                },
                || {
                    let _ = self.call("POST", &format!("/containers/{id}/kill"), None);
                },
            )?;
            if code != 0 {
                return Err(AnalyticsError::Failed {
                    message: format!("the container of `{image}` exited with {code}"),
                    details: super::python::tail(&self.logs(&id), 20),
                });
            }
            Ok(())
        })();
        self.remove(&id);
        result?;
        let outputs = (0..job.inputs.len())
            .map(|i| Some(job.output(i)).filter(|p| p.is_file()))
            .collect();
        let mut displays: Vec<PathBuf> = std::fs::read_dir(job.display_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        if displays.len() > 1 {
            return Err(AnalyticsError::WrongReturn(format!(
                "{} files in /data/display (at most one is allowed)",
                displays.len()
            )));
        }
        let display = match displays.pop() {
            Some(p) => Some(
                Display::from_file(&p).map_err(|e| AnalyticsError::Io(format!("display: {e}")))?,
            ),
            None => None,
        };
        Ok(Outcome { outputs, display })
    }
}

/// Reads an HTTP/1.1 response to its end (the request said `Connection: close`).
fn read_response(stream: impl Read) -> std::io::Result<(u16, Vec<u8>)> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {line:?}")))?;
    let mut chunked = false;
    let mut length: Option<usize> = None;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse().ok();
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok((status, body))
}

/// The text of a container's log stream (8-byte frame headers dropped).
fn demux(bytes: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 8 && rest[0] <= 2 && rest[1..4] == [0, 0, 0] {
        let n = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + n).min(rest.len());
        out.extend_from_slice(&rest[8..end]);
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    String::from_utf8_lossy(&out).into_owned()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_responses_are_read_whole() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            read_response(&chunked[..]).unwrap(),
            (200, b"abcde".to_vec())
        );
        let sized = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(read_response(&sized[..]).unwrap(), (404, b"{}".to_vec()));
    }

    #[test]
    fn log_frames_are_joined() {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 3];
        b.extend_from_slice(b"ab\n");
        b.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 2]);
        b.extend_from_slice(b"cd");
        assert_eq!(demux(&b), "ab\ncd");
    }
}
