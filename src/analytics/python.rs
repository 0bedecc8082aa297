//! `python://NAME`: a function in a Python file, run in a Python subprocess.
//!
//! In: a profile (`profiles: {NAME: {module: path/to/file.py, func: function}}` in the
//! profiles file: `$KESTREL_PYTHON_ANALYTICS_CONFIG`, else `analytics.python_profiles`
//! of the kestrel configuration, else `~/.config/kestrel/pythonanalytics.yaml`; a
//! relative module path is relative to the profiles file), a [`Job`]. Out: the files the
//! function's DataFrames were written to, its display.
//!
//! The subprocess runs `driver.py` (embedded in kestrel): it reads each input Parquet
//! file into a pandas DataFrame, calls the function with one DataFrame per ON variable
//! (WITH parameters in the environment, and as keyword arguments where the function
//! declares them), with the module's directory on `sys.path` and as the working
//! directory, and writes what it returns back as Parquet files and at most one display
//! (an HTML string, or a matplotlib Figure as SVG). Values travel only in files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::{AnalyticsError, Display, Interface, Job, Outcome};
use crate::config::AnalyticsConfig;

/// The driver the subprocess runs.
const DRIVER: &str = include_str!("driver.py");

/// The environment variable naming the profiles file.
pub const ENV_PROFILES: &str = "KESTREL_PYTHON_ANALYTICS_CONFIG";
/// The interpreter python:// analytics run in (wins over `analytics.python`).
pub const ENV_INTERPRETER: &str = "KESTREL_ANALYTICS_PYTHON";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    module: String,
    func: String,
}

pub struct Python {
    interpreter: String,
    profiles_path: Option<PathBuf>,
}

impl Python {
    pub fn new(config: &AnalyticsConfig, config_dir: Option<&Path>) -> Python {
        let from_env = std::env::var_os(ENV_PROFILES)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let from_config = config.python_profiles.as_ref().map(|p| match config_dir {
            Some(d) if p.is_relative() => d.join(p),
            _ => p.clone(),
        });
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|h| PathBuf::from(h).join(".config/kestrel/pythonanalytics.yaml"));
        Python {
            interpreter: std::env::var(ENV_INTERPRETER)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| config.python.clone()),
            profiles_path: from_env.or(from_config).or(home),
        }
    }

    fn profiles(&self) -> Result<(PathBuf, ProfilesFile), AnalyticsError> {
        let Some(path) = self.profiles_path.clone() else {
            return Err(AnalyticsError::NotFound {
                message: "no python analytics are configured".into(),
                help: format!(
                    "list them in ~/.config/kestrel/pythonanalytics.yaml or the file ${ENV_PROFILES} names"
                ),
            });
        };
        let text = std::fs::read_to_string(&path).map_err(|e| AnalyticsError::NotFound {
            message: format!("cannot read the python analytics profiles {}: {e}", path.display()),
            help: format!(
                "write `profiles: {{NAME: {{module: file.py, func: function}}}}` there, or set ${ENV_PROFILES}"
            ),
        })?;
        let file: ProfilesFile =
            serde_yaml::from_str(&text).map_err(|e| AnalyticsError::Unavailable {
                message: format!(
                    "the python analytics profiles {} are not valid: {e}",
                    path.display()
                ),
                help: "each profile is `NAME: {module: path/to/file.py, func: function}`".into(),
            })?;
        Ok((path, file))
    }
}

#[derive(Debug, Deserialize)]
struct DriverResult {
    ok: bool,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    traceback: String,
    #[serde(default)]
    outputs: Vec<bool>,
    #[serde(default)]
    display: Option<PathBuf>,
}

impl Interface for Python {
    fn list(&mut self) -> Result<Vec<String>, AnalyticsError> {
        let (_, file) = self.profiles()?;
        Ok(file.profiles.keys().cloned().collect())
    }

    fn run(&mut self, name: &str, job: &Job) -> Result<Outcome, AnalyticsError> {
        let (path, file) = self.profiles()?;
        let Some(profile) = file.profiles.get(name).cloned() else {
            let known: Vec<&str> = file.profiles.keys().map(|k| k.as_str()).collect();
            return Err(AnalyticsError::NotFound {
                message: format!("no python analytic `{name}` in {}", path.display()),
                help: if known.is_empty() {
                    "the profiles file lists none".into()
                } else {
                    format!("configured: {}", known.join(", "))
                },
            });
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let module = {
            let m = PathBuf::from(&profile.module);
            let m = match m.strip_prefix("~") {
                Ok(rest) => std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(rest))
                    .unwrap_or(m.clone()),
                Err(_) => m,
            };
            if m.is_relative() {
                base.join(m)
            } else {
                m
            }
        };
        if !module.is_file() {
            return Err(AnalyticsError::NotFound {
                message: format!(
                    "python analytic `{name}`: its module {} does not exist",
                    module.display()
                ),
                help: format!("fix `module` of profile `{name}` in {}", path.display()),
            });
        }
        let driver = job.dir.join("kestrel_driver.py");
        let spec = job.dir.join("spec.json");
        let result = job.dir.join("result.json");
        let io = |e: std::io::Error| AnalyticsError::Io(format!("analytics job directory: {e}"));
        std::fs::write(&driver, DRIVER).map_err(io)?;
        let outputs: Vec<PathBuf> = (0..job.inputs.len()).map(|i| job.output(i)).collect();
        let spec_json = serde_json::json!({
            "module": module,
            "func": profile.func,
            "name": name,
            "inputs": job.inputs,
            "outputs": outputs,
            "display_dir": job.display_dir(),
            "params": job.params,
        });
        std::fs::write(&spec, spec_json.to_string()).map_err(io)?;
        let stderr_path = job.dir.join("stderr.txt");
        let stderr = std::fs::File::create(&stderr_path).map_err(io)?;
        let mut cmd = Command::new(&self.interpreter);
        cmd.arg(&driver)
            .arg(&spec)
            .arg(&result)
            .env("MPLBACKEND", "Agg")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Its own process group: Ctrl-C reaches kestrel, which stops the whole group.
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(|e| AnalyticsError::Unavailable {
            message: format!(
                "cannot run the Python interpreter `{}`: {e}",
                self.interpreter
            ),
            help: "set `analytics: {python: /path/to/python}` in the kestrel configuration".into(),
        })?;
        let pid = child.id();
        let status = super::wait(
            job.timeout,
            || {
                child
                    .try_wait()
                    .map_err(|e| AnalyticsError::Io(format!("waiting for Python: {e}")))
            },
            || {
                kill_group(pid);
            },
        );
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let text = std::fs::read_to_string(&result).ok();
        let Some(res) = text.and_then(|t| serde_json::from_str::<DriverResult>(&t).ok()) else {
            let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            return Err(AnalyticsError::Failed {
                message: format!("Python exited with {status} before finishing"),
                details: tail(&err, 20),
            });
        };
        if !res.ok {
            return Err(match res.kind.as_str() {
                "import" => AnalyticsError::Import {
                    message: res.message,
                    package: res.package,
                },
                "return" => AnalyticsError::WrongReturn(res.message),
                "load" => AnalyticsError::NotFound {
                    message: format!("python analytic `{name}`: {}", res.message),
                    help: format!("fix profile `{name}` in {}", path.display()),
                },
                _ => AnalyticsError::Failed {
                    message: res.message,
                    details: res.traceback,
                },
            });
        }
        let display = match res.display {
            Some(p) => Some(Display::from_file(&p).map_err(io)?),
            None => None,
        };
        Ok(Outcome {
            outputs: outputs
                .into_iter()
                .enumerate()
                .map(|(i, p)| res.outputs.get(i).copied().unwrap_or(false).then_some(p))
                .collect(),
            display,
        })
    }
}

/// Stops a process group started with `process_group(0)`.
fn kill_group(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill(2) on a process group this process started; no memory is touched.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// The last `n` lines of a text.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
