//! `berth-checker`: runs INSIDE a container and prints, as one JSON object on
//! stdout, what the container's process sees (credentials, capabilities,
//! mounts, devices, namespaces, limits...).
//!
//! It plays the role of runtime-tools' `runtimetest`, but it only reports: the
//! test decides what is right, so the same report can be checked against runc
//! and berth-runtime. It is linked statically so it runs in a bare busybox
//! rootfs.
//!
//! Usage: `berth-checker [report] [--probe PATH]... [--sysctl KEY]...
//! [--read PATH]... [--syscall NAME[=ARG]]... [--exit N]`, or
//! `berth-checker sleep SECS`, `berth-checker exit N`.

use serde_json::{json, Map, Value};
use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sleep") => {
            // As pid 1 of a pid namespace the checker would ignore signals it
            // has no handler for; kill tests need SIGTERM to end it.
            // SAFETY: the handler only calls the async-signal-safe _exit.
            unsafe {
                libc::signal(
                    libc::SIGTERM,
                    on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
                libc::signal(
                    libc::SIGINT,
                    on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3600);
            std::thread::sleep(std::time::Duration::from_secs(secs));
        }
        Some("exit") => {
            let code = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            std::process::exit(code);
        }
        Some("report") => report(&args[1..]),
        _ => report(&args),
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

fn report(args: &[String]) {
    let mut probes = Vec::new();
    let mut sysctls = Vec::new();
    let mut reads = Vec::new();
    let mut syscalls = Vec::new();
    let mut exit_code = 0;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let Some(val) = it.next() else { break };
        match flag.as_str() {
            "--probe" => probes.push(val.clone()),
            "--sysctl" => sysctls.push(val.clone()),
            "--read" => reads.push(val.clone()),
            "--syscall" => syscalls.push(val.clone()),
            "--exit" => exit_code = val.parse().unwrap_or(0),
            _ => {}
        }
    }

    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let status_field = |name: &str| -> Value {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(|v| Value::String(v.trim().to_string()))
            .unwrap_or(Value::Null)
    };

    let mut out = Map::new();
    out.insert("pid".into(), json!(std::process::id()));
    // SAFETY: these getters have no preconditions and cannot fail.
    let (uid, gid, euid, egid) = unsafe {
        (
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
            libc::getegid(),
        )
    };
    out.insert("uid".into(), json!(uid));
    out.insert("gid".into(), json!(gid));
    out.insert("euid".into(), json!(euid));
    out.insert("egid".into(), json!(egid));
    out.insert("groups".into(), json!(groups()));
    out.insert("umask".into(), status_field("Umask"));
    out.insert(
        "cwd".into(),
        json!(std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default()),
    );
    out.insert("args".into(), json!(std::env::args().collect::<Vec<_>>()));
    let env: Map<String, Value> = std::env::vars().map(|(k, v)| (k, json!(v))).collect();
    out.insert("env".into(), Value::Object(env));
    let (host, domain, machine) = uname();
    out.insert("hostname".into(), json!(host));
    out.insert("domainname".into(), json!(domain));
    out.insert("machine".into(), json!(machine));
    let mut caps = Map::new();
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        caps.insert(set.into(), status_field(set));
    }
    out.insert("caps".into(), Value::Object(caps));
    out.insert("no_new_privs".into(), status_field("NoNewPrivs"));
    out.insert("seccomp".into(), status_field("Seccomp"));
    out.insert("rlimits".into(), rlimits());
    out.insert(
        "oom_score_adj".into(),
        json!(read_trim("/proc/self/oom_score_adj")),
    );
    out.insert("mounts".into(), mounts());
    out.insert("root_writable".into(), json!(writable("/")));
    out.insert("devices".into(), devices());
    out.insert("cgroup".into(), json!(read_trim("/proc/self/cgroup")));
    out.insert("ns".into(), namespaces());
    out.insert("fds".into(), open_fds());

    let probed: Map<String, Value> = probes.iter().map(|p| (p.clone(), probe(p))).collect();
    out.insert("probes".into(), Value::Object(probed));
    let sys: Map<String, Value> = sysctls
        .iter()
        .map(|k| {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            (k.clone(), json!(read_trim(&path)))
        })
        .collect();
    out.insert("sysctl".into(), Value::Object(sys));
    let read: Map<String, Value> = reads
        .iter()
        .map(|p| (p.clone(), json!(read_trim(p))))
        .collect();
    out.insert("files".into(), Value::Object(read));
    let sc: Map<String, Value> = syscalls
        .iter()
        .map(|s| (s.clone(), try_syscall(s)))
        .collect();
    out.insert("syscalls".into(), Value::Object(sc));

    println!("{}", Value::Object(out));
    std::process::exit(exit_code);
}

fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn groups() -> Vec<u32> {
    // SAFETY: a zero-sized query returns the count; the buffer is then sized to it.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if n <= 0 {
        return Vec::new();
    }
    let mut buf = vec![0 as libc::gid_t; n as usize];
    // SAFETY: buf has room for n entries.
    let got = unsafe { libc::getgroups(n, buf.as_mut_ptr()) };
    buf.truncate(got.max(0) as usize);
    buf
}

fn uname() -> (String, String, String) {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new(), String::new());
    }
    let field = |f: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&u.nodename), field(&u.domainname), field(&u.machine))
}

fn rlimits() -> Value {
    let all = [
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ];
    let mut out = Map::new();
    for (name, res) in all {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: r is a valid, writable rlimit.
        if unsafe { libc::getrlimit(res, &mut r) } == 0 {
            out.insert(name.into(), json!({"soft": r.rlim_cur, "hard": r.rlim_max}));
        }
    }
    Value::Object(out)
}

/// One entry per line of /proc/self/mountinfo, keyed fields as in proc(5).
fn mounts() -> Value {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let list: Vec<Value> = text
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 3 {
                return None;
            }
            let optional: Vec<&str> = l[6..].to_vec();
            let propagation = if optional.iter().any(|o| o.starts_with("shared:")) {
                "shared"
            } else if optional.iter().any(|o| o.starts_with("master:")) {
                "slave"
            } else if optional.iter().any(|o| o.starts_with("unbindable")) {
                "unbindable"
            } else {
                "private"
            };
            Some(json!({
                "root": l[3],
                "mount_point": unescape(l[4]),
                "options": l[5].split(',').collect::<Vec<_>>(),
                "optional": optional,
                "propagation": propagation,
                "fstype": r[0],
                "source": r[1],
                "super_options": r[2].split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    Value::Array(list)
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn writable(path: &str) -> bool {
    let Ok(c) = CString::new(path) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn file_type(ft: fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "l"
    } else if ft.is_dir() {
        "d"
    } else if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else if ft.is_fifo() {
        "p"
    } else if ft.is_socket() {
        "s"
    } else {
        "f"
    }
}

fn stat_json(path: &str) -> Value {
    match fs::symlink_metadata(path) {
        Ok(m) => {
            let rdev = m.rdev();
            let mut v = json!({
                "type": file_type(m.file_type()),
                "mode": m.mode() & 0o7777,
                "uid": m.uid(),
                "gid": m.gid(),
                "major": libc::major(rdev),
                "minor": libc::minor(rdev),
                "size": m.len(),
            });
            if m.file_type().is_symlink() {
                v["target"] = json!(fs::read_link(path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default());
            }
            v
        }
        Err(e) => json!({"error": e.raw_os_error()}),
    }
}

fn devices() -> Value {
    let mut out = Map::new();
    let mut stack = vec!["/dev".to_string()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let path = e.path().display().to_string();
            let st = stat_json(&path);
            // pts and mqueue are mounts of their own; listing /dev/pts/ptmx is
            // enough to tell devpts is there.
            if st["type"] == "d" && path != "/dev/shm" && path != "/dev/mqueue" {
                stack.push(path.clone());
            }
            out.insert(path, st);
        }
    }
    Value::Object(out)
}

/// Open file descriptors and what they point at (for --preserve-fds).
fn open_fds() -> Value {
    let mut out = Map::new();
    if let Ok(rd) = fs::read_dir("/proc/self/fd") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let target = fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            out.insert(name, json!(target));
        }
    }
    Value::Object(out)
}

fn namespaces() -> Value {
    let mut out = Map::new();
    for ns in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "user",
        "uts",
        "time",
        "pid_for_children",
        "time_for_children",
    ] {
        let link = fs::read_link(format!("/proc/self/ns/{ns}"))
            .map(|p| p.display().to_string())
            .ok();
        out.insert(ns.into(), json!(link));
    }
    out.insert("uid_map".into(), json!(read_trim("/proc/self/uid_map")));
    out.insert("gid_map".into(), json!(read_trim("/proc/self/gid_map")));
    Value::Object(out)
}

/// What a path looks like from inside: for masked paths (empty? readable?) and
/// readonly paths (writable?).
fn probe(path: &str) -> Value {
    let mut v = stat_json(path);
    if v.get("error").is_some() {
        return v;
    }
    v["writable"] = json!(writable(path));
    if !writable(path) {
        v["write_errno"] = json!(errno());
    }
    match v["type"].as_str() {
        Some("d") => {
            let entries = fs::read_dir(path).map(|rd| rd.count()).ok();
            v["entries"] = json!(entries);
        }
        Some("f") | Some("c") => {
            let mut buf = Vec::new();
            match fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut buf)) {
                Ok(n) => {
                    v["readable"] = json!(true);
                    v["read_len"] = json!(n);
                }
                Err(e) => {
                    v["readable"] = json!(false);
                    v["read_errno"] = json!(e.raw_os_error());
                }
            }
        }
        _ => {}
    }
    v
}

/// Calls one syscall the seccomp tests filter on and reports the errno (0 on
/// success). Raw syscalls, so libc cannot hide the result.
fn try_syscall(spec: &str) -> Value {
    let (name, arg) = match spec.split_once('=') {
        Some((n, a)) => (n, a.parse::<libc::c_long>().unwrap_or(0)),
        None => (spec, 0),
    };
    // SAFETY: each call below takes only integer arguments or a path we own,
    // and the old state is restored where the call changes any.
    let ret = unsafe {
        match name {
            "getppid" => libc::syscall(libc::SYS_getppid),
            "umask" => {
                let r = libc::syscall(libc::SYS_umask, arg);
                if r >= 0 {
                    libc::syscall(libc::SYS_umask, r);
                }
                r
            }
            "getpriority" => libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, arg),
            "mkdir" => {
                let p = CString::new("/tmp/.checker-mkdir").unwrap_or_default();
                let r = libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, p.as_ptr(), 0o700);
                if r == 0 {
                    libc::rmdir(p.as_ptr());
                }
                r
            }
            // KEYCTL_GET_KEYRING_ID of the session keyring: allowed to root
            // with any capability set, denied by docker's default profile.
            "keyctl" => libc::syscall(libc::SYS_keyctl, 0, -3 as libc::c_long, 0),
            // The lookup call glibc makes first (AT_EACCESS needs it); newer than
            // the profiles written before Linux 5.8.
            "faccessat2" => {
                let root = CString::new("/").unwrap_or_default();
                libc::syscall(
                    libc::SYS_faccessat2,
                    libc::AT_FDCWD,
                    root.as_ptr(),
                    libc::X_OK,
                    0,
                )
            }
            // getppid through the i386 ABI (int 0x80, number 64 there): a filter
            // must judge it by i386 numbers, as a 32-bit program would meet it.
            "i386_getppid" => {
                let ret: libc::c_long;
                std::arch::asm!("int 0x80", inlateout("rax") 64 as libc::c_long => ret,
                    out("r8") _, out("r9") _, out("r10") _, out("r11") _, options(nostack));
                if ret < 0 {
                    *libc::__errno_location() = -ret as libc::c_int;
                    -1
                } else {
                    ret
                }
            }
            // A number no kernel has given a syscall yet: what a filter does
            // with a syscall newer than its profile.
            "unassigned" => libc::syscall(1000),
            _ => return json!({"error": "unknown syscall"}),
        }
    };
    if ret < 0 {
        json!({"ret": ret, "errno": errno()})
    } else {
        json!({"ret": ret, "errno": 0})
    }
}
