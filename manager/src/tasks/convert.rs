//! proto ↔ domain for the shim API, and the one mapping of a shim's gRPC
//! status to [`TaskError`].

use berth_proto::shim::v1 as pb;
use chrono::{DateTime, Utc};

use super::error::TaskError;
use super::types::{
    CreateTask, ExitStatus, ProcessInfo, ProcessState, Stats, StdStream, TaskStatus,
};

/// Maps a shim's status to a [`TaskError`] of task `id`.
pub(super) fn status_to_error(id: &str, status: tonic::Status) -> TaskError {
    let id = id.to_string();
    let message = status.message().to_string();
    match status.code() {
        tonic::Code::NotFound => TaskError::NotFound { id, message },
        tonic::Code::AlreadyExists => TaskError::AlreadyExists { id, message },
        tonic::Code::FailedPrecondition => TaskError::FailedPrecondition { id, message },
        tonic::Code::InvalidArgument => TaskError::InvalidArgument { id, message },
        tonic::Code::Unavailable | tonic::Code::Cancelled => TaskError::Unreachable {
            id,
            address: Default::default(),
            message,
        },
        _ => TaskError::Shim { id, message },
    }
}

/// The stdio part of a [`CreateTask`]; id and bundle went on the shim's argv.
pub(super) fn create_to_pb(spec: &CreateTask) -> pb::CreateRequest {
    pb::CreateRequest {
        stdin: spec.stdin,
        tty: spec.tty,
        log: spec.log_path.as_ref().map(|path| pb::LogOptions {
            path: path.to_string_lossy().into_owned(),
            // The shim reads 0 as "never rotate".
            max_size: spec.log_max_size.unwrap_or(0),
            max_file: spec.log_max_file,
        }),
    }
}

pub(super) fn exit_from_pb(e: &pb::ExitStatus) -> ExitStatus {
    ExitStatus {
        pid: e.pid,
        code: e.code,
        signal: (e.signal != 0).then_some(e.signal),
        exited_at: DateTime::<Utc>::from_timestamp_nanos(e.exited_at_unix_nanos),
        oom_killed: e.oom_killed,
    }
}

pub(super) fn exec_id_from_pb(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub(super) fn state_from_pb(s: pb::StateResponse) -> ProcessState {
    let status = match pb::Status::try_from(s.status).unwrap_or(pb::Status::Unknown) {
        pb::Status::Created => TaskStatus::Created,
        pb::Status::Running => TaskStatus::Running,
        pb::Status::Paused => TaskStatus::Paused,
        pb::Status::Stopped => TaskStatus::Stopped,
        pb::Status::Unknown => TaskStatus::Unknown,
    };
    ProcessState {
        exec_id: exec_id_from_pb(&s.exec_id),
        bundle: s.bundle.into(),
        pid: s.pid,
        status,
        stdin: s.stdin,
        tty: s.tty,
        exit: s.exit.as_ref().map(exit_from_pb),
        id: s.id,
    }
}

pub(super) fn process_from_pb(p: &pb::ProcessInfo) -> ProcessInfo {
    ProcessInfo {
        pid: p.pid,
        exec_id: exec_id_from_pb(&p.exec_id),
    }
}

pub(super) fn stream_from_pb(s: i32) -> StdStream {
    match pb::StdStream::try_from(s) {
        Ok(pb::StdStream::Stderr) => StdStream::Stderr,
        _ => StdStream::Stdout,
    }
}

/// Lifts the common fields out of runc's `types.Stats` JSON.
pub(super) fn stats_from_json(raw: serde_json::Value) -> Stats {
    let u = |ptr: &str| raw.pointer(ptr).and_then(|v| v.as_u64()).unwrap_or(0);
    // runc reports "no limit" as the max u64 (v1 page-rounded) or 0 for pids.
    let limit = |v: u64| (v != 0 && v < (1u64 << 62)).then_some(v);
    Stats {
        cpu_total_ns: u("/cpu/usage/total"),
        cpu_user_ns: u("/cpu/usage/user"),
        cpu_kernel_ns: u("/cpu/usage/kernel"),
        memory_usage: u("/memory/usage/usage"),
        memory_limit: limit(u("/memory/usage/limit")),
        memory_cache: u("/memory/cache"),
        pids_current: u("/pids/current"),
        pids_limit: limit(u("/pids/limit")),
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requests_carry_the_stdio_options() {
        let mut spec = CreateTask::new("c1", "/b");
        let r = create_to_pb(&spec);
        assert!(!r.stdin && !r.tty && r.log.is_none());
        spec.tty = true;
        spec.stdin = true;
        spec.log_path = Some("/c/c1-json.log".into());
        spec.log_max_size = None;
        spec.log_max_file = 5;
        let r = create_to_pb(&spec);
        assert!(r.stdin && r.tty);
        let log = r.log.expect("log options");
        assert_eq!(
            (log.path.as_str(), log.max_size, log.max_file),
            ("/c/c1-json.log", 0, 5)
        );
        spec.log_max_size = Some(10 << 20);
        assert_eq!(create_to_pb(&spec).log.map(|l| l.max_size), Some(10 << 20));
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let e = status_to_error("c1", tonic::Status::not_found("exec x"));
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "task c1: not found: exec x");
        let e = status_to_error("c1", tonic::Status::failed_precondition("running"));
        assert!(matches!(e, TaskError::FailedPrecondition { .. }));
        let e = status_to_error("c1", tonic::Status::internal("runc failed"));
        assert!(matches!(e, TaskError::Shim { .. }));
    }

    #[test]
    fn exit_signal_zero_is_none() {
        let e = exit_from_pb(&pb::ExitStatus {
            code: 137,
            signal: 9,
            exited_at_unix_nanos: 1_000_000_001,
            ..Default::default()
        });
        assert_eq!(e.signal, Some(9));
        assert_eq!(e.exited_at.timestamp_subsec_nanos(), 1);
        let e = exit_from_pb(&pb::ExitStatus::default());
        assert_eq!(e.signal, None);
    }

    #[test]
    fn stats_lifts_fields_and_unlimited_is_none() {
        let raw = serde_json::json!({
            "cpu": {"usage": {"total": 5, "user": 3, "kernel": 2}},
            "memory": {"usage": {"usage": 100, "limit": 9223372036854771712u64}, "cache": 7},
            "pids": {"current": 2, "limit": 0}
        });
        let s = stats_from_json(raw);
        assert_eq!(s.cpu_total_ns, 5);
        assert_eq!(s.memory_usage, 100);
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.pids_current, 2);
        assert_eq!(s.pids_limit, None);
    }
}
