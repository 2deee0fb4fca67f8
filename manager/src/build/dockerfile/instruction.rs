//! One logical line → one typed instruction: flags, exec (JSON) or shell form,
//! name=value lists, and the checks docker makes when it reads the file (missing
//! arguments, unknown flags, SHELL not in JSON form, ONBUILD triggers).
use std::time::Duration;

use super::lines::{Heredoc, Logical};
use super::ParseError;

/// `--name=value` / `--name` flags in the order written; values raw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags(pub Vec<(String, Option<String>)>);

impl Flags {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean flag: present (`--link`, `--link=true`) and not `=false`.
    pub fn is_set(&self, name: &str) -> bool {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, v)| v.as_deref() != Some("false"))
    }
}

/// Exec form (a JSON array) or shell form (the text, for the stage's SHELL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// Raw: expanded with the meta ARGs.
    pub image: String,
    pub alias: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: Command,
    /// `--mount` values, raw.
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Raw words; a `<<NAME` source is the heredoc of that name.
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub sources: Vec<String>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub link: bool,
    pub exclude: Vec<String>,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// Raw default, expanded when the ARG is reached.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthcheckTest {
    /// `HEALTHCHECK NONE`: turn off an inherited check.
    None,
    Cmd(Command),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: HealthcheckTest,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    /// name, raw value
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Expose(Vec<String>),
    Copy(Copy),
    Add(Add),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    /// The trigger as written (`RUN make`), stored in the image for its children.
    Onbuild(String),
    Stopsignal(String),
    Healthcheck(Healthcheck),
    Maintainer(String),
}

pub(super) fn parse(l: &Logical, esc: char) -> Result<Instruction, ParseError> {
    let err = |m: String| ParseError::at(l.start, m);
    let kw = l.keyword.as_str();
    let upper = kw.to_ascii_uppercase();
    let allowed: &[&str] = match kw {
        "from" => &["platform"],
        "run" => &["mount", "network", "security"],
        "copy" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "add" => &[
            "chown",
            "chmod",
            "checksum",
            "keep-git-dir",
            "link",
            "exclude",
        ],
        "healthcheck" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    };
    // Like BuildKit, every instruction's leading `--` words are flags, and an
    // instruction without flags refuses them.
    let (flags, rest) = split_flags(&l.rest, esc).map_err(&err)?;
    for (name, _) in &flags.0 {
        if !allowed.contains(&name.as_str()) {
            return Err(err(format!("{upper}: unknown flag --{name}")));
        }
    }
    let need = |what: &str| -> Result<(), ParseError> {
        if rest.trim().is_empty() {
            Err(err(format!("{upper} requires {what}")))
        } else {
            Ok(())
        }
    };
    Ok(match kw {
        "from" => {
            need("an image (or scratch)")?;
            let words = raw_words(rest, esc).map_err(&err)?;
            let (image, alias) = match words.as_slice() {
                [image] => (image.clone(), None),
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    if !valid_stage_name(name) {
                        return Err(err(format!(
                            "invalid stage name {name:?}: use letters, digits, '-', '_' and '.', starting with a letter"
                        )));
                    }
                    (image.clone(), Some(name.to_ascii_lowercase()))
                }
                _ => return Err(err("FROM takes an image and, optionally, AS name".into())),
            };
            Instruction::From(From {
                image,
                alias,
                platform: flags.get("platform").map(str::to_string),
            })
        }
        "run" => {
            need("a command")?;
            Instruction::Run(Run {
                command: command(rest),
                mounts: flags.all("mount"),
                network: flags.get("network").map(str::to_string),
                security: flags.get("security").map(str::to_string),
                heredocs: l.heredocs.clone(),
            })
        }
        "cmd" => {
            need("a command")?;
            Instruction::Cmd(command(rest))
        }
        "entrypoint" => {
            need("a command")?;
            Instruction::Entrypoint(command(rest))
        }
        "shell" => match command(rest) {
            Command::Exec(v) if !v.is_empty() => Instruction::Shell(v),
            _ => return Err(err(
                "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]"
                    .into(),
            )),
        },
        "env" | "label" => {
            need("at least one name=value")?;
            let pairs = name_values(&upper, rest, esc).map_err(&err)?;
            if kw == "env" {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            }
        }
        "arg" => {
            need("a name")?;
            let mut decls = Vec::new();
            for w in raw_words(rest, esc).map_err(&err)? {
                let (name, default) = match w.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (w, None),
                };
                if name.is_empty() {
                    return Err(err("ARG names can not be blank".into()));
                }
                decls.push(ArgDecl { name, default });
            }
            Instruction::Arg(decls)
        }
        "expose" => {
            need("at least one port")?;
            Instruction::Expose(raw_words(rest, esc).map_err(&err)?)
        }
        "copy" | "add" => {
            let mut words = match command(rest) {
                Command::Exec(v) => v,
                Command::Shell(_) => raw_words(rest, esc).map_err(&err)?,
            };
            if words.len() < 2 {
                return Err(err(format!(
                    "{upper} requires at least two arguments: a source and a destination"
                )));
            }
            let dest = words.pop().unwrap_or_default();
            let sources = words;
            if kw == "copy" {
                Instruction::Copy(Copy {
                    sources,
                    dest,
                    from: flags.get("from").map(str::to_string),
                    chown: flags.get("chown").map(str::to_string),
                    chmod: flags.get("chmod").map(str::to_string),
                    link: flags.is_set("link"),
                    parents: flags.is_set("parents"),
                    exclude: flags.all("exclude"),
                    heredocs: l.heredocs.clone(),
                })
            } else {
                Instruction::Add(Add {
                    sources,
                    dest,
                    chown: flags.get("chown").map(str::to_string),
                    chmod: flags.get("chmod").map(str::to_string),
                    checksum: flags.get("checksum").map(str::to_string),
                    keep_git_dir: flags.is_set("keep-git-dir"),
                    link: flags.is_set("link"),
                    exclude: flags.all("exclude"),
                    heredocs: l.heredocs.clone(),
                })
            }
        }
        "workdir" => {
            need("a path")?;
            Instruction::Workdir(rest.to_string())
        }
        "user" => {
            need("a user")?;
            Instruction::User(rest.to_string())
        }
        "volume" => {
            need("at least one path")?;
            let paths = match command(rest) {
                Command::Exec(v) => v,
                Command::Shell(_) => raw_words(rest, esc).map_err(&err)?,
            };
            if paths.iter().any(|p| p.trim().is_empty()) {
                return Err(err("VOLUME specified can not be an empty string".into()));
            }
            Instruction::Volume(paths)
        }
        "onbuild" => {
            need("a trigger instruction")?;
            let inner = rest.trim_start();
            let (ikw, irest) = match inner.find(char::is_whitespace) {
                Some(n) => (&inner[..n], inner[n..].trim()),
                None => (inner, ""),
            };
            let ikw = ikw.to_ascii_lowercase();
            if matches!(ikw.as_str(), "onbuild" | "from" | "maintainer") {
                return Err(err(format!(
                    "{} isn't allowed as an ONBUILD trigger",
                    ikw.to_ascii_uppercase()
                )));
            }
            let trigger = Logical {
                start: l.start,
                end: l.end,
                keyword: ikw,
                rest: irest.to_string(),
                heredocs: l.heredocs.clone(),
            };
            parse(&trigger, esc)?;
            let mut text = trigger.keyword.to_ascii_uppercase();
            if !irest.is_empty() {
                text.push(' ');
                text.push_str(irest);
            }
            Instruction::Onbuild(text)
        }
        "stopsignal" => {
            need("a signal")?;
            Instruction::Stopsignal(rest.to_string())
        }
        "healthcheck" => {
            need("NONE or CMD and a command")?;
            let dur = |name: &str| -> Result<Option<Duration>, ParseError> {
                flags
                    .get(name)
                    .map(|v| {
                        go_duration(v).ok_or_else(|| {
                            err(format!(
                                "HEALTHCHECK --{name}={v}: not a duration (e.g. 30s, 1m30s, 500ms)"
                            ))
                        })
                    })
                    .transpose()
            };
            let retries = flags
                .get("retries")
                .map(|v| {
                    v.parse::<u32>().ok().filter(|r| *r > 0).ok_or_else(|| {
                        err(format!(
                            "HEALTHCHECK --retries={v}: must be a whole number above 0"
                        ))
                    })
                })
                .transpose()?;
            let (first, cmd) = match rest.find(char::is_whitespace) {
                Some(n) => (&rest[..n], rest[n..].trim()),
                None => (rest, ""),
            };
            let test = match first.to_ascii_uppercase().as_str() {
                "NONE" if cmd.is_empty() && flags.0.is_empty() => HealthcheckTest::None,
                "NONE" => return Err(err("HEALTHCHECK NONE takes no other arguments".into())),
                "CMD" if !cmd.is_empty() => HealthcheckTest::Cmd(command(cmd)),
                _ => return Err(err("HEALTHCHECK takes NONE, or CMD and a command".into())),
            };
            Instruction::Healthcheck(Healthcheck {
                test,
                interval: dur("interval")?,
                timeout: dur("timeout")?,
                start_period: dur("start-period")?,
                start_interval: dur("start-interval")?,
                retries,
            })
        }
        "maintainer" => {
            need("a name")?;
            Instruction::Maintainer(rest.to_string())
        }
        other => {
            return Err(err(format!(
                "unknown instruction: {}",
                other.to_ascii_uppercase()
            )))
        }
    })
}

/// JSON array of strings: exec form; anything else: shell form (docker falls back
/// to shell form when the JSON does not parse).
fn command(rest: &str) -> Command {
    let t = rest.trim();
    if t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
            return Command::Exec(v);
        }
    }
    Command::Shell(t.to_string())
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Leading `--name[=value]` words, and the rest of the line.
fn split_flags(rest: &str, esc: char) -> Result<(Flags, &str), String> {
    let mut flags = Flags::default();
    let mut s = rest.trim_start();
    while let Some(after) = s.strip_prefix("--") {
        let end = word_end(after, esc)?;
        let word = &after[..end];
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(unquote(v))),
            None => (word, None),
        };
        if name.is_empty() {
            return Err("a flag without a name ('--')".into());
        }
        flags.0.push((name.to_ascii_lowercase(), value));
        s = after[end..].trim_start();
    }
    Ok((flags, s))
}

/// A flag value's surrounding quotes go (`--chown="1:1"`).
fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

/// Byte index where the raw word starting `s` ends (unquoted whitespace).
fn word_end(s: &str, esc: char) -> Result<usize, String> {
    let mut quote: Option<char> = None;
    let mut it = s.char_indices();
    while let Some((i, c)) = it.next() {
        match quote {
            Some('\'') if c == '\'' => quote = None,
            Some('"') if c == '"' => quote = None,
            Some('"') if c == esc => {
                it.next();
            }
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == esc => {
                it.next();
            }
            None if c.is_whitespace() => return Ok(i),
            None => {}
        }
    }
    match quote {
        Some(q) => Err(format!(
            "unterminated quote {q}: no closing {q} on the line"
        )),
        None => Ok(s.len()),
    }
}

/// Raw words (quotes and escapes kept for expansion), split on unquoted whitespace.
pub(super) fn raw_words(s: &str, esc: char) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut s = s.trim_start();
    while !s.is_empty() {
        let end = word_end(s, esc)?;
        out.push(s[..end].to_string());
        s = s[end..].trim_start();
    }
    Ok(out)
}

/// ENV / LABEL: `name=value …`, or the legacy `name value with spaces`.
fn name_values(upper: &str, rest: &str, esc: char) -> Result<Vec<(String, String)>, String> {
    let words = raw_words(rest, esc)?;
    let Some(first) = words.first() else {
        return Err(format!("{upper} requires at least one argument"));
    };
    if !first.contains('=') {
        let value = rest.trim_start()[first.len()..].trim();
        if value.is_empty() {
            return Err(format!("{upper} {first} has no value: write {first}=VALUE"));
        }
        return Ok(vec![(first.clone(), value.to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(format!("{upper} names can not be blank")),
            Some((n, v)) => Ok((n.to_string(), v.to_string())),
            None => Err(format!("{upper}: can't find = in {w:?}; write name=value")),
        })
        .collect()
}

/// Go's `time.ParseDuration` (engine-api's one parser); negative is no duration.
pub(super) fn go_duration(s: &str) -> Option<Duration> {
    s.parse::<berth_engine_api::GoDuration>()
        .ok()
        .and_then(|d| d.to_std())
}
