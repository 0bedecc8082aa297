//! A deterministic generator of a realistic ECS lake: Windows and Linux hosts with process
//! trees, users, network connections, DNS queries, file and registry events, and planted
//! attack chains (Office spawning an encoded PowerShell that phones home, drops a DLL,
//! sets a run key and dumps LSASS). The same seed and size give the same events, byte for
//! byte, so benchmark answers are stable.
//!
//! Used by `examples/genlake.rs` (writes JSON lines for `kestrel ingest`) and by the
//! end-to-end benchmark (`benches/e2e.rs`).

use serde_json::{Map, Value};

/// Columns every event has (NULL where they do not apply), in the order written.
pub const COLUMNS: &[&str] = &[
    "@timestamp",
    "event.category",
    "event.type",
    "host.name",
    "host.id",
    "host.os.name",
    "user.name",
    "user.domain",
    "process.entity_id",
    "process.pid",
    "process.name",
    "process.executable",
    "process.command_line",
    "process.start",
    "process.parent.entity_id",
    "process.parent.pid",
    "process.parent.name",
    "process.parent.executable",
    "process.parent.command_line",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.transport",
    "network.protocol",
    "dns.question.name",
    "file.path",
    "file.name",
    "file.directory",
    "registry.path",
    "registry.value",
    "registry.data.strings",
];

/// splitmix64: small, fast, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone)]
struct Proc {
    uid: String,
    pid: u64,
    name: String,
    exe: String,
    cmd: String,
    start: String,
}

struct Host {
    name: String,
    id: String,
    windows: bool,
    users: Vec<String>,
    /// Recently started processes that later events come from (bounded).
    living: Vec<Proc>,
    /// Long-lived parents: services.exe, explorer.exe, sshd/bash.
    roots: Vec<Proc>,
    next_pid: u64,
}

/// (name, executable, command line) of everyday programs.
const WIN_APPS: &[(&str, &str, &str)] = &[
    (
        "chrome.exe",
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer"#,
    ),
    (
        "msedge.exe",
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe""#,
    ),
    (
        "outlook.exe",
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        r#""C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE""#,
    ),
    (
        "winword.exe",
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        r#""C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n"#,
    ),
    (
        "excel.exe",
        r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
        r#""C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE""#,
    ),
    (
        "teams.exe",
        r"C:\Users\Public\AppData\Local\Microsoft\Teams\current\Teams.exe",
        "Teams.exe --system-initiated",
    ),
    (
        "cmd.exe",
        r"C:\Windows\System32\cmd.exe",
        r#"C:\Windows\system32\cmd.exe /c dir C:\Users"#,
    ),
    (
        "powershell.exe",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "powershell.exe -NoProfile -Command Get-Process",
    ),
    (
        "conhost.exe",
        r"C:\Windows\System32\conhost.exe",
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
    ),
    (
        "notepad.exe",
        r"C:\Windows\System32\notepad.exe",
        r"C:\Windows\system32\notepad.exe C:\Users\Public\notes.txt",
    ),
    (
        "svchost.exe",
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p",
    ),
    (
        "taskhostw.exe",
        r"C:\Windows\System32\taskhostw.exe",
        "taskhostw.exe",
    ),
    (
        "onedrive.exe",
        r"C:\Users\Public\AppData\Local\Microsoft\OneDrive\OneDrive.exe",
        "OneDrive.exe /background",
    ),
    (
        "python.exe",
        r"C:\Python311\python.exe",
        r"C:\Python311\python.exe C:\tools\report.py",
    ),
];

const LINUX_APPS: &[(&str, &str, &str)] = &[
    ("bash", "/usr/bin/bash", "-bash"),
    ("python3", "/usr/bin/python3", "python3 /opt/app/worker.py"),
    (
        "curl",
        "/usr/bin/curl",
        "curl -s https://repo.example.com/health",
    ),
    ("ps", "/usr/bin/ps", "ps aux"),
    ("cron", "/usr/sbin/cron", "/usr/sbin/cron -f"),
    ("sshd", "/usr/sbin/sshd", "sshd: admin [priv]"),
    ("java", "/usr/bin/java", "java -jar /opt/app/service.jar"),
];

const DOMAINS: &[&str] = &[
    "www.google.com",
    "outlook.office365.com",
    "teams.microsoft.com",
    "login.microsoftonline.com",
    "github.com",
    "update.googleapis.com",
    "cdn.example.org",
    "intranet.corp.example",
    "repo.example.com",
    "time.windows.com",
];

const PORTS: &[u64] = &[443, 443, 443, 443, 80, 80, 53, 445, 3389, 8080, 22];

/// Generates `events` events from `seed`, calling `emit` with each (keys are the dotted
/// ECS column names; absent keys are NULL). Returns how many attack chains were planted.
pub fn generate(events: u64, seed: u64, mut emit: impl FnMut(Map<String, Value>)) -> u64 {
    let mut rng = Rng::new(seed);
    let n_hosts = (events / 5000).clamp(10, 2000);
    let mut hosts: Vec<Host> = (0..n_hosts).map(|i| new_host(&mut rng, i)).collect();
    // Seven days from 2024-03-01, spread evenly.
    let start_us: i64 = 1_709_251_200_000_000;
    let span_us: i64 = 7 * 24 * 3600 * 1_000_000;
    let step = (span_us / events.max(1) as i64).max(1);
    let chains = (events / 100_000).max(1);
    let chain_every = events / chains;
    let mut planted = 0;
    let mut n = 0u64;
    while n < events {
        let ts = start_us + n as i64 * step + rng.below(step as u64) as i64;
        let hi = rng.below(n_hosts) as usize;
        if n > 0 && n % chain_every == chain_every / 2 && planted < chains {
            planted += 1;
            n += attack_chain(&mut rng, &mut hosts[hi], ts, planted, &mut emit);
            continue;
        }
        let host = &mut hosts[hi];
        let roll = rng.below(100);
        let ev = if roll < 40 || host.living.is_empty() {
            process_start(&mut rng, host, ts, None).0
        } else if roll < 65 {
            network(&mut rng, host, ts)
        } else if roll < 72 {
            dns(&mut rng, host, ts)
        } else if roll < 88 {
            file(&mut rng, host, ts)
        } else {
            registry(&mut rng, host, ts)
        };
        emit(ev);
        n += 1;
    }
    planted
}

fn new_host(rng: &mut Rng, i: u64) -> Host {
    let windows = !rng.chance(10);
    let name = if windows {
        format!("WS-{i:04}")
    } else {
        format!("srv-{i:04}")
    };
    let id = guid(rng);
    let users = (0..1 + rng.below(3))
        .map(|_| format!("user{:04}", rng.below(500)))
        .collect();
    let mut h = Host {
        name,
        id,
        windows,
        users,
        living: Vec::new(),
        roots: Vec::new(),
        next_pid: 400 + rng.below(2000),
    };
    let roots: &[(&str, &str, &str)] = if windows {
        &[
            (
                "services.exe",
                r"C:\Windows\System32\services.exe",
                r"C:\Windows\system32\services.exe",
            ),
            (
                "explorer.exe",
                r"C:\Windows\explorer.exe",
                r"C:\Windows\Explorer.EXE",
            ),
        ]
    } else {
        &[
            ("systemd", "/usr/lib/systemd/systemd", "/sbin/init"),
            ("sshd", "/usr/sbin/sshd", "/usr/sbin/sshd -D"),
        ]
    };
    for (name, exe, cmd) in roots {
        let p = Proc {
            uid: guid(rng),
            pid: h.next_pid,
            name: name.to_string(),
            exe: exe.to_string(),
            cmd: cmd.to_string(),
            start: iso(1_709_200_000_000_000),
        };
        h.next_pid += 4;
        h.roots.push(p);
    }
    h
}

fn guid(rng: &mut Rng) -> String {
    let a = rng.next();
    let b = rng.next();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// `%Y-%m-%dT%H:%M:%S.%fZ` of microseconds since the epoch (the ECS timestamp form, as
/// kestrel renders time bounds for it).
pub fn iso(us: i64) -> String {
    kestrel::time::format_strftime(us, "%Y-%m-%dT%H:%M:%S.%fZ").expect("a fixed, valid format")
}

fn base(host: &Host, ts: i64, category: &str, kind: &str, user: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@timestamp".into(), iso(ts).into());
    m.insert("event.category".into(), category.into());
    m.insert("event.type".into(), kind.into());
    m.insert("host.name".into(), host.name.clone().into());
    m.insert("host.id".into(), host.id.clone().into());
    m.insert(
        "host.os.name".into(),
        if host.windows { "Windows" } else { "Linux" }.into(),
    );
    m.insert("user.name".into(), user.into());
    m.insert(
        "user.domain".into(),
        if host.windows { "CORP" } else { "" }.into(),
    );
    m
}

fn put_process(m: &mut Map<String, Value>, p: &Proc) {
    m.insert("process.entity_id".into(), p.uid.clone().into());
    m.insert("process.pid".into(), p.pid.into());
    m.insert("process.name".into(), p.name.clone().into());
    m.insert("process.executable".into(), p.exe.clone().into());
    m.insert("process.command_line".into(), p.cmd.clone().into());
    m.insert("process.start".into(), p.start.clone().into());
}

fn put_parent(m: &mut Map<String, Value>, p: &Proc) {
    m.insert("process.parent.entity_id".into(), p.uid.clone().into());
    m.insert("process.parent.pid".into(), p.pid.into());
    m.insert("process.parent.name".into(), p.name.clone().into());
    m.insert("process.parent.executable".into(), p.exe.clone().into());
    m.insert("process.parent.command_line".into(), p.cmd.clone().into());
}

/// A process starts; `child` forces what starts and under which parent.
fn process_start(
    rng: &mut Rng,
    host: &mut Host,
    ts: i64,
    child: Option<(Proc, (&str, &str, String))>,
) -> (Map<String, Value>, Proc) {
    let (parent, (name, exe, cmd)) = match child {
        Some((parent, (n, e, c))) => (parent, (n.to_string(), e.to_string(), c)),
        None => {
            let parent = if !host.living.is_empty() && rng.chance(35) {
                rng.pick(&host.living).clone()
            } else {
                rng.pick(&host.roots).clone()
            };
            let apps = if host.windows { WIN_APPS } else { LINUX_APPS };
            let (n, e, c) = rng.pick(apps);
            (parent, (n.to_string(), e.to_string(), c.to_string()))
        }
    };
    let p = Proc {
        uid: guid(rng),
        pid: host.next_pid,
        name,
        exe,
        cmd,
        start: iso(ts),
    };
    host.next_pid += 4 * (1 + rng.below(8));
    let user = host.users[rng.below(host.users.len() as u64) as usize].clone();
    let mut m = base(host, ts, "process", "start", &user);
    put_process(&mut m, &p);
    put_parent(&mut m, &parent);
    if host.living.len() >= 64 {
        let drop = rng.below(64) as usize;
        host.living.swap_remove(drop);
    }
    host.living.push(p.clone());
    (m, p)
}

fn actor(rng: &mut Rng, host: &Host) -> Proc {
    rng.pick(&host.living).clone()
}

fn network(rng: &mut Rng, host: &mut Host, ts: i64) -> Map<String, Value> {
    let p = actor(rng, host);
    let user = host.users[0].clone();
    let mut m = base(host, ts, "network", "connection", &user);
    put_process(&mut m, &p);
    let internal = rng.chance(40);
    let dst = if internal {
        format!(
            "10.{}.{}.{}",
            rng.below(4),
            rng.below(256),
            1 + rng.below(254)
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            13 + rng.below(180),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        )
    };
    m.insert(
        "source.ip".into(),
        format!("10.1.{}.{}", rng.below(256), 1 + rng.below(254)).into(),
    );
    m.insert("source.port".into(), (49152 + rng.below(16000)).into());
    m.insert("destination.ip".into(), dst.into());
    m.insert("destination.port".into(), (*rng.pick(PORTS)).into());
    m.insert("network.transport".into(), "tcp".into());
    m
}

fn dns(rng: &mut Rng, host: &mut Host, ts: i64) -> Map<String, Value> {
    let p = actor(rng, host);
    let user = host.users[0].clone();
    let mut m = base(host, ts, "network", "protocol", &user);
    put_process(&mut m, &p);
    m.insert("network.protocol".into(), "dns".into());
    m.insert("network.transport".into(), "udp".into());
    m.insert("destination.ip".into(), "10.0.0.53".into());
    m.insert("destination.port".into(), 53.into());
    m.insert("dns.question.name".into(), (*rng.pick(DOMAINS)).into());
    m
}

fn file(rng: &mut Rng, host: &mut Host, ts: i64) -> Map<String, Value> {
    let p = actor(rng, host);
    let user = host.users[0].clone();
    let kind = if rng.chance(60) { "creation" } else { "change" };
    let mut m = base(host, ts, "file", kind, &user);
    put_process(&mut m, &p);
    let (dir, name) = if host.windows {
        (
            format!(r"C:\Users\{user}\Documents"),
            format!("report{}.docx", rng.below(5000)),
        )
    } else {
        (
            "/var/tmp".to_string(),
            format!("job{}.log", rng.below(5000)),
        )
    };
    let sep = if host.windows { '\\' } else { '/' };
    m.insert("file.path".into(), format!("{dir}{sep}{name}").into());
    m.insert("file.name".into(), name.into());
    m.insert("file.directory".into(), dir.into());
    m
}

fn registry(rng: &mut Rng, host: &mut Host, ts: i64) -> Map<String, Value> {
    let p = actor(rng, host);
    let user = host.users[0].clone();
    let mut m = base(host, ts, "registry", "change", &user);
    put_process(&mut m, &p);
    let key = format!(
        r"HKLM\SOFTWARE\Vendor{}\Settings\Option{}",
        rng.below(50),
        rng.below(20)
    );
    m.insert("registry.path".into(), key.into());
    m.insert("registry.value".into(), "Option".into());
    m.insert(
        "registry.data.strings".into(),
        rng.below(1000).to_string().into(),
    );
    m
}

/// Office → cmd → encoded PowerShell → C2 connection, DNS, dropped DLL, run key, and
/// rundll32 dumping LSASS. Returns how many events it wrote.
fn attack_chain(
    rng: &mut Rng,
    host: &mut Host,
    ts: i64,
    k: u64,
    emit: &mut impl FnMut(Map<String, Value>),
) -> u64 {
    if !host.windows {
        // Chains are Windows tradecraft: plant on the next Windows host's twin instead.
        host.windows = true;
    }
    let explorer = host.roots[host.roots.len() - 1].clone();
    let user = host.users[0].clone();
    let mut t = ts;
    let mut count = 0;
    let start =
        |rng: &mut Rng, host: &mut Host, parent: &Proc, spec: (&str, &str, String), t: i64| {
            process_start(rng, host, t, Some((parent.clone(), spec)))
        };
    let (ev, word) = start(
        rng,
        host,
        &explorer,
        (
            "winword.exe",
            r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            format!(
                r#""C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n C:\Users\{user}\Downloads\invoice{k}.docm"#
            ),
        ),
        t,
    );
    emit(ev);
    count += 1;
    t += 2_000_000;
    let (ev, cmd) = start(
        rng,
        host,
        &word,
        (
            "cmd.exe",
            r"C:\Windows\System32\cmd.exe",
            "cmd.exe /c powershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA"
                .to_string(),
        ),
        t,
    );
    emit(ev);
    count += 1;
    t += 500_000;
    let (ev, psh) = start(
        rng,
        host,
        &cmd,
        (
            "powershell.exe",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            "powershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA".to_string(),
        ),
        t,
    );
    emit(ev);
    count += 1;
    t += 1_000_000;
    let mut m = base(host, t, "network", "protocol", &user);
    put_process(&mut m, &psh);
    m.insert("network.protocol".into(), "dns".into());
    m.insert("network.transport".into(), "udp".into());
    m.insert("destination.ip".into(), "10.0.0.53".into());
    m.insert("destination.port".into(), 53.into());
    m.insert(
        "dns.question.name".into(),
        format!("update-check{k}.example.net").into(),
    );
    emit(m);
    count += 1;
    t += 300_000;
    let mut m = base(host, t, "network", "connection", &user);
    put_process(&mut m, &psh);
    m.insert("source.ip".into(), "10.1.200.7".into());
    m.insert("source.port".into(), (50000 + k).into());
    m.insert(
        "destination.ip".into(),
        format!("198.51.100.{}", k % 250 + 1).into(),
    );
    m.insert("destination.port".into(), 443.into());
    m.insert("network.transport".into(), "tcp".into());
    emit(m);
    count += 1;
    t += 4_000_000;
    let dir = format!(r"C:\Users\{user}\AppData\Local\Temp");
    let mut m = base(host, t, "file", "creation", &user);
    put_process(&mut m, &psh);
    m.insert("file.path".into(), format!(r"{dir}\stage{k}.dll").into());
    m.insert("file.name".into(), format!("stage{k}.dll").into());
    m.insert("file.directory".into(), dir.clone().into());
    emit(m);
    count += 1;
    t += 1_000_000;
    let mut m = base(host, t, "registry", "change", &user);
    put_process(&mut m, &psh);
    m.insert(
        "registry.path".into(),
        format!(r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run\Updater{k}").into(),
    );
    m.insert("registry.value".into(), format!("Updater{k}").into());
    m.insert(
        "registry.data.strings".into(),
        format!(r"rundll32.exe {dir}\stage{k}.dll,Start").into(),
    );
    emit(m);
    count += 1;
    t += 3_000_000;
    let (ev, dumper) = start(
        rng,
        host,
        &psh,
        (
            "rundll32.exe",
            r"C:\Windows\System32\rundll32.exe",
            format!(
                r"rundll32.exe C:\windows\System32\comsvcs.dll, MiniDump 640 {dir}\lsass{k}.dmp full"
            ),
        ),
        t,
    );
    emit(ev);
    count += 1;
    t += 2_000_000;
    let mut m = base(host, t, "file", "creation", &user);
    put_process(&mut m, &dumper);
    m.insert("file.path".into(), format!(r"{dir}\lsass{k}.dmp").into());
    m.insert("file.name".into(), format!("lsass{k}.dmp").into());
    m.insert("file.directory".into(), dir.into());
    emit(m);
    count += 1;
    let _ = rng;
    count
}
