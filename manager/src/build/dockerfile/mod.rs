//! Dockerfiles: text → stages of typed instructions, as docker's (BuildKit's)
//! frontend reads them. [`parse`] is the whole public way in; variable expansion
//! ([`expand`]) happens later, in the planner, where ARG and ENV values are known.
//!
//! Arguments stay raw (quotes and `$` intact) wherever docker expands them at build
//! time; RUN, CMD and ENTRYPOINT in shell form keep their text for the shell.
pub mod expand;
mod instruction;
mod lines;

pub use instruction::{
    Add, ArgDecl, Command, Copy, Flags, From, Healthcheck, HealthcheckTest, Instruction, Run,
};
pub use lines::{Directives, Heredoc};

/// A Dockerfile error, at a line of the file (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile:{line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

/// One instruction with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// First and last line of the file it spans (1-based).
    pub line: usize,
    pub end_line: usize,
    /// The instruction as written, keyword upper-cased, continuation joined: what
    /// history's `created_by` and the build output show.
    pub text: String,
    pub instruction: Instruction,
}

/// A `FROM` and the steps up to the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub from: From,
    /// `AS name`, lowercased as docker matches it.
    pub name: Option<String>,
    pub line: usize,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// `ARG`s before the first `FROM`: usable in FROM lines, and in a stage after
    /// an `ARG NAME` without value re-declares them.
    pub meta_args: Vec<(usize, ArgDecl)>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The index of the stage `name` (an `AS` name, or a stage number), if any.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }
}

/// An image's `ONBUILD` triggers as steps of the stage built on it, all at the
/// stage's FROM `line` (docker runs them right after it).
pub fn triggers(triggers: &[String], line: usize) -> Result<Vec<Step>, ParseError> {
    let mut out = Vec::new();
    for t in triggers {
        let df = parse(&format!("FROM scratch\n{t}\n"))
            .map_err(|e| ParseError::at(line, format!("the base image's ONBUILD {t}: {e}")))?;
        for mut step in df.stages.into_iter().flat_map(|s| s.steps) {
            if matches!(step.instruction, Instruction::Onbuild(_)) {
                return Err(ParseError::at(line, "ONBUILD ONBUILD is not allowed"));
            }
            step.line = line;
            step.end_line = line;
            out.push(step);
        }
    }
    Ok(out)
}

/// Parse a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let (directives, logical) = lines::split(text)?;
    let esc = directives.escape;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for l in logical {
        let instruction = instruction::parse(&l, esc)?;
        let text = display_text(&l);
        match instruction {
            Instruction::From(from) => {
                let name = from.alias.clone();
                if let Some(n) = &name {
                    if stages.iter().any(|s| s.name.as_deref() == Some(n.as_str())) {
                        return Err(ParseError::at(
                            l.start,
                            format!("duplicate stage name {n:?}"),
                        ));
                    }
                }
                stages.push(Stage {
                    from,
                    name,
                    line: l.start,
                    steps: Vec::new(),
                });
            }
            Instruction::Arg(decls) if stages.is_empty() => {
                meta_args.extend(decls.into_iter().map(|d| (l.start, d)));
            }
            other => {
                let Some(stage) = stages.last_mut() else {
                    return Err(ParseError::at(
                        l.start,
                        format!(
                            "{} before the first FROM: a Dockerfile must begin with FROM (only ARG may precede it)",
                            l.keyword.to_ascii_uppercase()
                        ),
                    ));
                };
                stage.steps.push(Step {
                    line: l.start,
                    end_line: l.end,
                    text,
                    instruction: other,
                });
            }
        }
    }
    if stages.is_empty() {
        return Err(ParseError::at(
            1,
            "the Dockerfile has no FROM: nothing to build",
        ));
    }
    Ok(Dockerfile {
        directives,
        meta_args,
        stages,
    })
}

fn display_text(l: &lines::Logical) -> String {
    let mut t = l.keyword.to_ascii_uppercase();
    if !l.rest.is_empty() {
        t.push(' ');
        t.push_str(&l.rest);
    }
    t
}

#[cfg(test)]
mod tests;
