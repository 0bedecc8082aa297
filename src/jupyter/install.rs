//! `kestrel jupyter install`: writes the kernelspec Jupyter finds the kernel by.
//!
//! Out: `kernels/kestrel/kernel.json` (argv running this executable as
//! `kestrel jupyter kernel -f {connection_file}`, display name "Kestrel", language
//! `kestrel`) under the chosen Jupyter data directory, as `jupyter kernelspec install`
//! places it: `--user` the user's data dir, `--sys-prefix` `sys.prefix/share/jupyter`
//! of the Python that runs Jupyter (`$VIRTUAL_ENV`, else `python3`'s), `--prefix DIR`
//! `DIR/share/jupyter`. Beside it, in `labextensions/kestrel-jupyterlab`, the prebuilt
//! JupyterLab 4 extension that highlights Kestrel (built by
//! `jupyterlab/kestrel-jupyterlab/build.sh`, embedded in the binary); JupyterLab loads
//! prebuilt extensions from the same data directories.

use std::path::{Path, PathBuf};

use serde_json::json;

/// Where to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    User,
    SysPrefix,
    Prefix(PathBuf),
}

/// The kernelspec's JSON for the executable at `exe`.
pub fn kernel_json(exe: &Path) -> serde_json::Value {
    json!({
        "argv": [exe.to_string_lossy(), "jupyter", "kernel", "-f", "{connection_file}"],
        "display_name": "Kestrel",
        "language": "kestrel",
        "interrupt_mode": "signal",
        "metadata": {"debugger": false},
    })
}

/// The user's Jupyter data directory (`$JUPYTER_DATA_DIR`, else the platform's).
fn user_data_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("JUPYTER_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or("HOME is not set")?;
    if cfg!(target_os = "macos") {
        return Ok(home.join("Library/Jupyter"));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".local/share"));
    Ok(data.join("jupyter"))
}

/// `sys.prefix` of the Python Jupyter runs on: the active virtualenv, else `python3`'s.
fn sys_prefix() -> Result<PathBuf, String> {
    if let Some(v) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(v));
    }
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .map_err(|e| format!("--sys-prefix needs python3: {e}"))?;
    if !out.status.success() {
        return Err("--sys-prefix: python3 could not tell its sys.prefix".into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The Jupyter data directory of a target.
pub fn data_dir(target: &Target) -> Result<PathBuf, String> {
    Ok(match target {
        Target::User => user_data_dir()?,
        Target::SysPrefix => sys_prefix()?.join("share").join("jupyter"),
        Target::Prefix(p) => p.join("share").join("jupyter"),
    })
}

/// The name of the JupyterLab extension (its directory under `labextensions/`).
pub const LABEXTENSION: &str = "kestrel-jupyterlab";

/// Writes the prebuilt labextension under `data/labextensions/`, replacing an older one
/// whole (its file names carry content hashes); returns its directory.
pub fn install_labextension(data: &Path) -> Result<PathBuf, String> {
    let parent = data.join("labextensions");
    let dir = parent.join(LABEXTENSION);
    let tmp = parent.join(format!(".{LABEXTENSION}.tmp"));
    let fail = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
    let _ = std::fs::remove_dir_all(&tmp);
    for (name, bytes) in super::labextension_files::FILES {
        let path = tmp.join(name);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| fail(d, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| fail(&path, e))?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| fail(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| fail(&dir, e))?;
    Ok(dir)
}

/// The directory the kernelspec goes to.
pub fn kernel_dir(target: &Target) -> Result<PathBuf, String> {
    Ok(data_dir(target)?.join("kernels").join("kestrel"))
}

/// Writes the kernelspec and the labextension; returns the kernelspec's directory.
pub fn install(target: &Target) -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the kestrel executable: {e}"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let dir = kernel_dir(target)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(&kernel_json(&exe)).expect("JSON");
    let file = dir.join("kernel.json");
    // Written beside and renamed: never a half-written kernel.json.
    let tmp = dir.join(".kernel.json.tmp");
    std::fs::write(&tmp, text + "\n")
        .and_then(|_| std::fs::rename(&tmp, &file))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    install_labextension(&data_dir(target)?)?;
    Ok(dir)
}
