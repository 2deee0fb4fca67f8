//! The Dockerfile builder: `dockerfile/` reads the file, `plan.rs` orders the stages,
//! `context.rs` holds the client's files (DESIGN.md, "Builder").
pub mod add;
pub mod cache;
pub mod context;
pub mod copy;
mod copy_step;
pub mod dockerfile;
pub mod exec;
mod export;
pub mod plan;
pub mod prune;
pub mod run_mount;
mod run_step;
pub mod stage;

/// What can stop a build; each names the Dockerfile line or the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] dockerfile::ParseError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error("build context {path}: {source}")]
    Context {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "build context: the tar entry {0:?} would land outside the context; refusing the context"
    )]
    ContextEscape(String),
    #[error("{0}: forbidden path outside the build context")]
    OutsideContext(String),
    #[error(
        "{0:?}: no such file or directory in the build context (or excluded by .dockerignore)"
    )]
    MissingSource(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Dockerfile:{line}: {message}")]
    Step { line: usize, message: String },
    #[error("Dockerfile:{line}: {command}: exited with code {code}")]
    RunFailed {
        line: usize,
        command: String,
        code: i32,
    },
    #[error(transparent)]
    Image(#[from] crate::images::Error),
}

impl crate::errors::Classify for BuildError {
    fn reason(&self) -> crate::errors::Reason {
        use crate::errors::Reason;
        match self {
            BuildError::Image(e) => e.reason(),
            BuildError::Context { .. } | BuildError::Invalid(_) => Reason::Internal,
            _ => Reason::InvalidArgument,
        }
    }
}
