//! `process.rlimits`: resource limits of the container process, exactly as given (no
//! clamping to the runtime's own), set with prlimit(2) by the runtime on the init
//! before it goes on ([`apply_to`]) and with setrlimit(2) in the process before the
//! uid switch (raising a hard limit needs `CAP_SYS_RESOURCE`, which the switch and the
//! capability sets may take away). Limits survive execve.
use nix::sys::resource::{setrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    #[error("rlimits: unknown resource {name:?} in process.rlimits")]
    Unknown { name: String },
    #[error(
        "rlimits: process.rlimits[{index}] {name}: soft limit {soft} is above hard limit {hard}"
    )]
    SoftAboveHard {
        index: usize,
        name: String,
        soft: u64,
        hard: u64,
    },
    #[error("rlimits: setting process.rlimits[{index}] {name} to soft {soft} hard {hard} failed: {source}")]
    Set {
        index: usize,
        name: String,
        soft: u64,
        hard: u64,
        #[source]
        source: nix::Error,
    },
}

/// The resource of an `RLIMIT_*` name as `config.json` and `runc exec` write it.
pub fn parse_name(name: &str) -> Result<PosixRlimitType, RlimitError> {
    name.parse::<PosixRlimitType>()
        .map_err(|_| RlimitError::Unknown {
            name: name.to_string(),
        })
}

/// The kernel's resource for a spec limit.
pub fn resource(typ: PosixRlimitType) -> Resource {
    match typ {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Set every limit of the calling process, in order; stops at the first the kernel
/// refuses.
pub fn apply(rlimits: &[PosixRlimit]) -> Result<(), RlimitError> {
    each(rlimits, setrlimit)
}

/// Set every limit of process `pid` with prlimit(2), from the runtime: runc sets the
/// init's limits from its parent, because in a user namespace the init cannot raise
/// a hard limit (that takes `CAP_SYS_RESOURCE` in the host's namespace), so a limit
/// above the runtime's own would fail there. The init sets them again before execve
/// (an equal limit is no raise), which keeps one code path for `exec` too.
pub fn apply_to(pid: i32, rlimits: &[PosixRlimit]) -> Result<(), RlimitError> {
    each(rlimits, |res, soft, hard| {
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: `new` is a valid rlimit; the old value is not asked for.
        let rc = unsafe {
            libc::prlimit(
                pid,
                res as libc::__rlimit_resource_t,
                &new,
                std::ptr::null_mut(),
            )
        };
        nix::errno::Errno::result(rc).map(drop)
    })
}

/// Checks each limit (soft not above hard) and sets it with `set`, in order.
fn each(
    rlimits: &[PosixRlimit],
    set: impl Fn(Resource, u64, u64) -> nix::Result<()>,
) -> Result<(), RlimitError> {
    for (index, limit) in rlimits.iter().enumerate() {
        let (soft, hard) = (limit.soft(), limit.hard());
        let name = limit.typ().to_string();
        if soft > hard {
            return Err(RlimitError::SoftAboveHard {
                index,
                name,
                soft,
                hard,
            });
        }
        set(resource(limit.typ()), soft, hard).map_err(|source| RlimitError::Set {
            index,
            name,
            soft,
            hard,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::forked;
    use nix::sys::wait::WaitStatus;
    use oci_spec::runtime::PosixRlimitBuilder;

    fn limit(typ: PosixRlimitType, soft: u64, hard: u64) -> PosixRlimit {
        PosixRlimitBuilder::default()
            .typ(typ)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    }

    #[test]
    fn names_parse_and_unknown_is_named() {
        assert_eq!(
            parse_name("RLIMIT_NOFILE").unwrap(),
            PosixRlimitType::RlimitNofile
        );
        assert_eq!(
            parse_name("RLIMIT_RTTIME").unwrap(),
            PosixRlimitType::RlimitRttime
        );
        assert_eq!(PosixRlimitType::RlimitNofile.to_string(), "RLIMIT_NOFILE");
        let e = parse_name("RLIMIT_BOGUS").unwrap_err();
        assert_eq!(
            e.to_string(),
            "rlimits: unknown resource \"RLIMIT_BOGUS\" in process.rlimits"
        );
        let e: Result<PosixRlimit, _> =
            serde_json::from_str(r#"{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}"#);
        assert!(e.is_err());
    }

    #[test]
    fn soft_above_hard_is_an_error_before_any_change() {
        let e = apply(&[limit(PosixRlimitType::RlimitNofile, 10, 5)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "rlimits: process.rlimits[0] RLIMIT_NOFILE: soft limit 10 is above hard limit 5"
        );
    }

    fn limits_line(pid: nix::unistd::Pid, prefix: &str) -> Vec<String> {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .to_string();
        line[prefix.len()..]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn root_limits_are_set_in_the_child() {
        let set = [
            limit(PosixRlimitType::RlimitNofile, 1234, 2345),
            limit(PosixRlimitType::RlimitCore, 0, u64::MAX),
            limit(PosixRlimitType::RlimitNproc, 77, 88),
        ];
        let mut child = forked::spawn(|ch| {
            if let Err(e) = apply(&set) {
                return ch.fail(&e.to_string());
            }
            ch.ready();
            ch.wait_go();
            0
        });
        child.report(false).expect("child apply");
        assert_eq!(
            limits_line(child.pid, "Max open files"),
            ["1234", "2345", "files"]
        );
        assert_eq!(
            limits_line(child.pid, "Max core file size"),
            ["0", "unlimited", "bytes"]
        );
        assert_eq!(
            limits_line(child.pid, "Max processes"),
            ["77", "88", "processes"]
        );
        let pid = child.pid;
        assert_eq!(child.go_and_wait(), WaitStatus::Exited(pid, 0));
    }

    /// prlimit from outside sets the child's limits, soft and hard as given.
    #[test]
    fn limits_of_another_process_are_set_from_outside() {
        let mut child = forked::spawn(|ch| {
            ch.ready();
            ch.wait_go();
            0
        });
        child.report(false).expect("child ready");
        let set = [
            limit(PosixRlimitType::RlimitNofile, 321, 654),
            limit(PosixRlimitType::RlimitCore, 7, u64::MAX),
        ];
        apply_to(child.pid.as_raw(), &set).expect("prlimit");
        assert_eq!(
            limits_line(child.pid, "Max open files"),
            ["321", "654", "files"]
        );
        assert_eq!(
            limits_line(child.pid, "Max core file size"),
            ["7", "unlimited", "bytes"]
        );
        let e = apply_to(
            child.pid.as_raw(),
            &[limit(PosixRlimitType::RlimitNofile, 9, 8)],
        );
        assert!(matches!(e, Err(RlimitError::SoftAboveHard { .. })), "{e:?}");
        let pid = child.pid;
        assert_eq!(child.go_and_wait(), WaitStatus::Exited(pid, 0));
    }

    /// Raising a hard limit without CAP_SYS_RESOURCE fails with the limit named.
    #[test]
    fn root_refused_limit_names_the_entry() {
        let mut child = forked::spawn(|ch| {
            if caps::drop(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_SYS_RESOURCE,
            )
            .is_err()
            {
                return ch.fail("drop CAP_SYS_RESOURCE");
            }
            let set = [
                limit(PosixRlimitType::RlimitNofile, 10, 20),
                limit(PosixRlimitType::RlimitNofile, 10, 30),
            ];
            match apply(&set) {
                Err(e) => ch.fail(&e.to_string()),
                Ok(()) => 0,
            }
        });
        let e = child.report(false).unwrap_err();
        assert_eq!(
            e,
            "ERR rlimits: setting process.rlimits[1] RLIMIT_NOFILE to soft 10 hard 30 failed: EPERM: Operation not permitted"
        );
    }
}
