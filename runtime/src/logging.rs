//! runc-style log lines for `--log` / `--log-format` / `--debug`.
//!
//! text: `time="2024-01-02T03:04:05Z" level=error msg="container does not exist"`
//! json: `{"level":"error","msg":"container does not exist","time":"2024-01-02T03:04:05Z"}`
//! The log file is opened (append) only when a line is written, so a quiet run costs
//! nothing. Without `--log`, lines go to stderr.
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug)]
struct Logger {
    path: Option<PathBuf>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

pub fn init(path: Option<PathBuf>, format: Format, debug: bool) {
    let path = path.filter(|p| p != &PathBuf::from("/dev/stderr"));
    let _ = LOGGER.set(Logger {
        path,
        format,
        debug,
    });
}

/// Log lines go to stderr (no `--log` file).
pub fn to_stderr() -> bool {
    LOGGER.get().is_none_or(|l| l.path.is_none())
}

pub fn format_line(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => serde_json::json!({"level": level, "msg": msg, "time": time}).to_string(),
        Format::Text => format!(
            "time=\"{time}\" level={level} msg={}",
            serde_json::Value::String(msg.to_string())
        ),
    }
}

fn write(level: &str, msg: &str) {
    let Some(l) = LOGGER.get() else {
        eprintln!("{msg}");
        return;
    };
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut line = format_line(l.format, level, msg, &time);
    line.push('\n');
    match &l.path {
        Some(p) => {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
            {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        write("debug", msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_line_shapes() {
        assert_eq!(
            format_line(Format::Text, "error", "container does not exist", "T"),
            r#"time="T" level=error msg="container does not exist""#
        );
        assert_eq!(
            format_line(Format::Json, "error", "a \"b\"", "T"),
            r#"{"level":"error","msg":"a \"b\"","time":"T"}"#
        );
    }
}
